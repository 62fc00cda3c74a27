//! Istio's path templates (`paths` with `{*}` / `{**}`, Envoy's uri_template): `{*}` is exactly
//! one path segment, `{**}` zero or more and only as the last operator. Compiled to an anchored
//! regex once, at config load.

use regex::Regex;

/// A compiled path template.
#[derive(Debug, Clone)]
pub struct PathTemplate {
    source: Box<str>,
    regex: Regex,
}

impl PathTemplate {
    /// Parses and checks a template, with Istio's validation rules.
    pub fn parse(template: &str) -> Result<Self, String> {
        let err = |why: &str| Err(format!("invalid path template {template:?}: {why}"));
        if !template.starts_with('/') {
            return err("must start with /");
        }
        let mut pattern = String::from("^");
        let mut seen_many = false;
        let mut operators = 0;
        let segments: Vec<&str> = template[1..].split('/').collect();
        for seg in &segments {
            pattern.push('/');
            match *seg {
                "{*}" | "{**}" if seen_many => return err("{**} must be the last operator"),
                "{*}" => {
                    operators += 1;
                    pattern.push_str("[^/]+");
                }
                "{**}" => {
                    operators += 1;
                    seen_many = true;
                    pattern.push_str(".*");
                }
                s if s.contains(['{', '}']) => {
                    return err("an operator ({*} or {**}) must be a whole path segment")
                }
                s if s.contains('*') => return err("* cannot be mixed with {*} or {**} operators"),
                s => pattern.push_str(&regex::escape(s)),
            }
        }
        if operators == 0 {
            return err("no {*} or {**} operator");
        }
        pattern.push('$');
        let regex = Regex::new(&pattern).map_err(|e| format!("invalid path template: {e}"))?;
        Ok(Self {
            source: template.into(),
            regex,
        })
    }

    /// Whether `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        self.regex.is_match(path)
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}
