use std::net::IpAddr;

use http::HeaderMap;

use super::*;

fn req<'a>(
    method: &'a str,
    host: &'a str,
    path: &'a str,
    headers: &'a HeaderMap,
) -> AuthzRequest<'a> {
    AuthzRequest {
        method,
        host,
        path,
        headers,
        port: 8080,
        source_ip: IpAddr::from([127, 0, 0, 1]),
        remote_ip: IpAddr::from([127, 0, 0, 1]),
        destination_ip: IpAddr::from([127, 0, 0, 1]),
        sni: None,
        peer_principal: None,
        auth: None,
    }
}

fn strs(v: &[&str]) -> Option<Box<[StrPattern]>> {
    Some(v.iter().map(|s| StrPattern::parse(s)).collect())
}

fn paths(v: &[&str]) -> Option<Box<[PathPattern]>> {
    Some(v.iter().map(|s| PathPattern::parse(s).unwrap()).collect())
}

fn policy(name: &str, rules: Vec<Rule>) -> Policy {
    Policy {
        name: name.into(),
        rules: rules.into(),
    }
}

fn to(op: Operation) -> Rule {
    Rule {
        to: Box::new([op]),
        ..Rule::default()
    }
}

#[test]
fn allow_nothing_denies_everything_and_allow_all_allows() {
    let h = HeaderMap::new();
    let nothing = Authorization {
        allow: Box::new([policy("default/allow-nothing", vec![])]),
        ..Default::default()
    };
    assert!(!nothing.evaluate(&req("GET", "a", "/", &h)).allowed);
    let all = Authorization {
        allow: Box::new([policy("default/allow-all", vec![Rule::default()])]),
        ..Default::default()
    };
    let v = all.evaluate(&req("GET", "a", "/", &h));
    assert!(v.allowed);
    assert_eq!(v.policy, Some("default/allow-all"));
    assert!(
        Authorization::default()
            .evaluate(&req("GET", "a", "/", &h))
            .allowed
    );
}

#[test]
fn deny_wins_over_allow_and_audit_never_decides() {
    let h = HeaderMap::new();
    let authz = Authorization {
        allow: Box::new([policy("ns/all", vec![Rule::default()])]),
        deny: Box::new([policy(
            "ns/no-admin",
            vec![to(Operation {
                paths: Field {
                    any: paths(&["/admin", "/admin/*"]),
                    ..Default::default()
                },
                ..Default::default()
            })],
        )]),
        audit: Box::new([policy("ns/audit", vec![Rule::default()])]),
        ..Default::default()
    };
    let v = authz.evaluate(&req("GET", "a", "/admin/x", &h));
    assert_eq!(
        (v.allowed, v.policy, v.audited),
        (false, Some("ns/no-admin"), true)
    );
    assert!(authz.evaluate(&req("GET", "a", "/public", &h)).allowed);
    // `;params` cannot slip past a DENY rule.
    assert!(
        !authz
            .evaluate(&req("GET", "a", "/admin;jsessionid=1", &h))
            .allowed
    );
    assert!(!authz.evaluate(&req("GET", "a", "/admin/;x", &h)).allowed);
}

#[test]
fn operation_fields_are_anded_and_values_ored() {
    let h = HeaderMap::new();
    let op = Operation {
        hosts: Field {
            any: strs(&["reviews.default.svc.cluster.local"]),
            ..Default::default()
        },
        methods: Field {
            any: strs(&["GET", "HEAD"]),
            ..Default::default()
        },
        ..Default::default()
    };
    let authz = Authorization {
        allow: Box::new([policy("ns/p", vec![to(op)])]),
        ..Default::default()
    };
    let host = "Reviews.default.svc.cluster.local:8080";
    assert!(authz.evaluate(&req("GET", host, "/", &h)).allowed);
    assert!(
        authz
            .evaluate(&req("HEAD", "reviews.default.svc.cluster.local.", "/", &h))
            .allowed
    );
    assert!(!authz.evaluate(&req("POST", host, "/", &h)).allowed);
    assert!(
        !authz
            .evaluate(&req("GET", "ratings.default.svc.cluster.local", "/", &h))
            .allowed
    );
}

#[test]
fn not_values_match_absent_attributes() {
    let cond = Condition {
        attribute: Attribute::Header(http::HeaderName::from_static("x-token")),
        values: Field {
            any: None,
            none: Box::new([CondValue::Str(StrPattern::parse("admin"))]),
        },
    };
    let authz = Authorization {
        deny: Box::new([policy(
            "ns/deny-header",
            vec![Rule {
                when: Box::new([cond]),
                ..Default::default()
            }],
        )]),
        ..Default::default()
    };
    let mut h = HeaderMap::new();
    assert!(
        !authz.evaluate(&req("GET", "a", "/", &h)).allowed,
        "no header: denied"
    );
    h.insert("x-token", "guest".parse().unwrap());
    assert!(!authz.evaluate(&req("GET", "a", "/", &h)).allowed);
    h.insert("x-token", "admin".parse().unwrap());
    assert!(authz.evaluate(&req("GET", "a", "/", &h)).allowed);
}

#[test]
fn request_principals_need_a_token() {
    #[derive(Debug)]
    struct Jwt;
    impl AuthView for Jwt {
        fn principal(&self) -> &str {
            "iss/sub"
        }
        fn audiences(&self) -> Vec<&str> {
            vec!["api"]
        }
        fn presenter(&self) -> Option<&str> {
            None
        }
        fn claim_values(&self, path: &[Box<str>]) -> Vec<&str> {
            match &*path[0] {
                "groups" => vec!["group1", "group2"],
                _ => vec![],
            }
        }
    }
    let authz = Authorization {
        allow: Box::new([policy(
            "ns/require-jwt",
            vec![Rule {
                from: Box::new([Source {
                    request_principals: Field {
                        any: strs(&["*"]),
                        ..Default::default()
                    },
                    ..Default::default()
                }]),
                when: Box::new([Condition {
                    attribute: Attribute::Claim(Box::new(["groups".into()])),
                    values: Field {
                        any: Some(Box::new([CondValue::Str(StrPattern::parse("group1"))])),
                        ..Default::default()
                    },
                }]),
                ..Default::default()
            }],
        )]),
        ..Default::default()
    };
    let h = HeaderMap::new();
    let mut r = req("GET", "a", "/", &h);
    assert!(!authz.evaluate(&r).allowed);
    r.auth = Some(&Jwt);
    assert!(authz.evaluate(&r).allowed);
}

#[test]
fn ip_blocks() {
    let c = Cidr::parse("5.6.7.0/24").unwrap();
    assert!(c.contains("5.6.7.8".parse().unwrap()));
    assert!(c.contains("::ffff:5.6.7.8".parse().unwrap()));
    assert!(!c.contains("5.6.8.1".parse().unwrap()));
    assert!(Cidr::parse("1.2.3.4")
        .unwrap()
        .contains("1.2.3.4".parse().unwrap()));
    assert!(!Cidr::parse("1.2.3.4")
        .unwrap()
        .contains("1.2.3.5".parse().unwrap()));
    assert!(Cidr::parse("0.0.0.0/0")
        .unwrap()
        .contains("9.9.9.9".parse().unwrap()));
    assert!(Cidr::parse("2001:db8::/32")
        .unwrap()
        .contains("2001:db8::1".parse().unwrap()));
    assert!(Cidr::parse("1.2.3.4/33").is_err());
    assert!(Cidr::parse("1.2.3/24").is_err());
}

#[test]
fn path_templates_follow_istio() {
    let t = |s: &str| PathTemplate::parse(s).unwrap();
    assert!(t("/foo/{*}").matches("/foo/bar"));
    assert!(!t("/foo/{*}").matches("/foo/bar/baz"));
    assert!(!t("/foo/{*}").matches("/foo/"));
    assert!(t("/foo/{**}/").matches("/foo/bar/"));
    assert!(t("/foo/{**}/").matches("/foo//"));
    assert!(!t("/foo/{**}/").matches("/foo/bar"));
    assert!(t("/foo/{*}/bar/{**}").matches("/foo/buzz/bar/"));
    assert!(t("/foo/{*}/bar/{**}").matches("/foo/buzz/bar/baz"));
    assert!(t("/admin/{**}").matches("/admin/x/y"));
    assert!(!t("/admin/{**}").matches("/admins"));
    assert!(t("/a.b/{*}").matches("/a.b/c") && !t("/a.b/{*}").matches("/axb/c"));
    for bad in [
        "/*/baz/{*}",
        "/{**}/foo/{*}",
        "/foo/{*}.txt",
        "foo/{*}",
        "/foo/{x}",
    ] {
        assert!(PathTemplate::parse(bad).is_err(), "{bad} should be invalid");
    }
}

#[test]
fn string_forms() {
    assert!(StrPattern::parse("*").matches("x") && !StrPattern::parse("*").matches(""));
    assert!(StrPattern::parse("/api/*").matches("/api/v1"));
    assert!(!StrPattern::parse("/api/*").matches("/apix"));
    assert!(StrPattern::parse("*.png").matches("/a.png"));
    assert!(StrPattern::parse("GET").matches("GET") && !StrPattern::parse("GET").matches("get"));
}
