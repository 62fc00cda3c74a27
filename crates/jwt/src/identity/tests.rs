use serde_json::json;

use super::*;

fn identity(claims: Value, space_delimited: &[&str]) -> Identity {
    Identity {
        principal: "i/s".into(),
        issuer: "i".into(),
        subject: "s".into(),
        audiences: Vec::new(),
        presenter: None,
        claims: claims.as_object().unwrap().clone(),
        space_delimited: space_delimited.iter().map(|&s| s.into()).collect(),
    }
}

#[test]
fn nested_list_and_scalar_claims() {
    let id = identity(
        json!({"group": "dev", "groups": ["a", "b", 3], "realm": {"roles": ["admin", "ops"], "level": 2},
               "flag": true}),
        &[],
    );
    assert_eq!(id.claim_values(&["group"]), ["dev"]);
    assert_eq!(id.claim_values(&["groups"]), ["a", "b"]);
    assert_eq!(id.claim_values(&["realm", "roles"]), ["admin", "ops"]);
    assert!(id.claim_values(&["realm", "level"]).is_empty());
    assert!(id.claim_values(&["flag"]).is_empty());
    assert!(id.claim_values(&["realm"]).is_empty());
    assert!(id.claim_values(&["missing", "x"]).is_empty());
    assert!(id.claim_values(&[]).is_empty());
    assert_eq!(id.claim(&["realm", "level"]), Some(&json!(2)));
}

#[test]
fn space_delimited_claims() {
    let id = identity(
        json!({"scope": "read  write", "permission": ["a b", "c"], "roles": "x y",
               "nested": {"perms": "p q"}, "other": "u v"}),
        &["roles", "nested.perms"],
    );
    assert_eq!(id.claim_values(&["scope"]), ["read", "write"]);
    assert_eq!(id.claim_values(&["permission"]), ["a", "b", "c"]);
    assert_eq!(id.claim_values(&["roles"]), ["x", "y"]);
    assert_eq!(id.claim_values(&["nested", "perms"]), ["p", "q"]);
    assert_eq!(id.claim_values(&["other"]), ["u v"]);
}
