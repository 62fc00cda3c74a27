//! rampart-testkit
