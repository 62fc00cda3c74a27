use super::*;

fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut builder = http::Request::builder().uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap().into_parts().0
}

fn find(location: &Location, parts: &Parts) -> Vec<Result<String, ()>> {
    let mut out = Vec::new();
    location.find(parts, &mut out);
    out.into_iter().map(|r| r.map(|c| c.into_owned())).collect()
}

fn header(name: &'static str, prefix: &str, strict: bool) -> Location {
    Location::Header {
        name: HeaderName::from_static(name),
        prefix: prefix.into(),
        strict,
    }
}

#[test]
fn default_bearer_header() {
    let [bearer, _] = Location::defaults();
    let p = parts("/", &[("authorization", "Bearer a.b.c")]);
    assert_eq!(find(&bearer, &p), [Ok("a.b.c".to_owned())]);
    let p = parts("/", &[("authorization", "bearer  a.b.c ")]);
    assert_eq!(find(&bearer, &p), [Ok("a.b.c".to_owned())]);
    let p = parts("/", &[("authorization", "Basic dXNlcjpwYXNz")]);
    assert!(
        find(&bearer, &p).is_empty(),
        "Basic credentials are not a token"
    );
    let p = parts(
        "/",
        &[("authorization", "Bearer x"), ("authorization", "Bearer y")],
    );
    assert_eq!(find(&bearer, &p), [Ok("x".to_owned()), Ok("y".to_owned())]);
}

#[test]
fn strict_prefix() {
    let loc = header("x-token", "Token ", true);
    assert_eq!(
        find(&loc, &parts("/", &[("x-token", "Token a.b.c")])),
        [Ok("a.b.c".to_owned())]
    );
    assert_eq!(
        find(&loc, &parts("/", &[("x-token", "Bearer a.b.c")])),
        [Err(())]
    );
    assert_eq!(
        find(&loc, &parts("/", &[("x-token", "token a.b.c")])),
        [Err(())]
    );
    let bare = header("x-jwt", "", true);
    assert_eq!(
        find(&bare, &parts("/", &[("x-jwt", "a.b.c")])),
        [Ok("a.b.c".to_owned())]
    );
    assert!(find(&bare, &parts("/", &[])).is_empty());
}

#[test]
fn params_and_cookies() {
    let param = Location::Param("access_token".into());
    let p = parts("/p?x=1&access_token=a.b.c&y", &[]);
    assert_eq!(find(&param, &p), [Ok("a.b.c".to_owned())]);
    let p = parts("/p?access%5Ftoken=a%2Eb.c", &[]);
    assert_eq!(find(&param, &p), [Ok("a.b.c".to_owned())]);
    assert_eq!(find(&param, &parts("/p?access_token=%ff", &[])), [Err(())]);
    assert!(find(&param, &parts("/p?access_tokens=x", &[])).is_empty());
    let cookie = Location::Cookie("session".into());
    let p = parts(
        "/",
        &[
            ("cookie", "a=1; session=\"a.b.c\""),
            ("cookie", "session=d.e.f"),
        ],
    );
    assert_eq!(
        find(&cookie, &p),
        [Ok("a.b.c".to_owned()), Ok("d.e.f".to_owned())]
    );
}

#[test]
fn removal() {
    let mut p = parts(
        "/p?x=1&access_token=t&access_token=u&y=%20",
        &[("authorization", "Bearer t")],
    );
    Location::Param("access_token".into()).remove(&mut p);
    assert_eq!(p.uri, "/p?x=1&y=%20");
    let [bearer, _] = Location::defaults();
    bearer.remove(&mut p);
    assert!(p.headers.get("authorization").is_none());
    let mut p = parts("http://h.test/p?access_token=t", &[]);
    Location::Param("access_token".into()).remove(&mut p);
    assert_eq!(p.uri, "http://h.test/p");
    let mut p = parts("/", &[("cookie", "session=t")]);
    Location::Cookie("session".into()).remove(&mut p);
    assert_eq!(
        p.headers["cookie"], "session=t",
        "cookies are left alone, as Envoy does"
    );
}
