//! rampart-admin
