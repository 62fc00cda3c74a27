//! Value matchers of authorization rules: Istio's string forms, IP blocks, paths, and the
//! `values` / `notValues` pair they sit in.

use super::PathTemplate;

/// A list field and its `not` form.
#[derive(Debug)]
pub struct Field<M> {
    /// The field's values: one must match. `None` when the field is not set.
    pub any: Option<Box<[M]>>,
    /// The `not` field's values: none may match.
    pub none: Box<[M]>,
}

impl<M> Default for Field<M> {
    fn default() -> Self {
        Self {
            any: None,
            none: Box::new([]),
        }
    }
}

impl<M> Field<M> {
    /// Whether nothing is set (the field matches everything).
    pub fn is_unset(&self) -> bool {
        self.any.is_none() && self.none.is_empty()
    }

    /// Tests a single-valued attribute (`None`: absent, which matches no value and so passes
    /// every `not` list).
    pub fn test<V: Copy>(&self, value: Option<V>, f: impl Fn(&M, V) -> bool) -> bool {
        self.test_any(value.into_iter(), f)
    }

    /// Tests a multi-valued attribute: some value must match `any`, no value may match `none`.
    pub fn test_any<V>(&self, values: impl Iterator<Item = V>, f: impl Fn(&M, V) -> bool) -> bool
    where
        V: Clone,
    {
        if self.is_unset() {
            return true;
        }
        let mut hit = self.any.is_none();
        for v in values {
            if self.none.iter().any(|m| f(m, v.clone())) {
                return false;
            }
            if !hit {
                hit = self.any.iter().flatten().any(|m| f(m, v.clone()));
            }
        }
        hit
    }
}

/// Istio's string forms: `abc` exact, `abc*` prefix, `*abc` suffix, `*` any non-empty value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrPattern {
    /// Byte-equal.
    Exact(Box<str>),
    /// Starts with.
    Prefix(Box<str>),
    /// Ends with.
    Suffix(Box<str>),
    /// Any non-empty value.
    Present,
}

impl StrPattern {
    /// Parses Istio's forms.
    pub fn parse(s: &str) -> Self {
        if s == "*" {
            StrPattern::Present
        } else if let Some(p) = s.strip_suffix('*') {
            StrPattern::Prefix(p.into())
        } else if let Some(p) = s.strip_prefix('*') {
            StrPattern::Suffix(p.into())
        } else {
            StrPattern::Exact(s.into())
        }
    }

    /// Whether `v` matches.
    pub fn matches(&self, v: &str) -> bool {
        match self {
            StrPattern::Exact(e) => v == &**e,
            StrPattern::Prefix(p) => v.starts_with(&**p),
            StrPattern::Suffix(s) => v.ends_with(&**s),
            StrPattern::Present => !v.is_empty(),
        }
    }
}

/// A path value: a string form or a `{*}` / `{**}` template.
#[derive(Debug)]
pub enum PathPattern {
    /// Exact, prefix, suffix or presence.
    Str(StrPattern),
    /// A path template.
    Template(PathTemplate),
}

impl PathPattern {
    /// Parses a `paths` value: a template when it contains `{`, else a string form.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.contains('{') || s.contains('}') {
            PathTemplate::parse(s).map(PathPattern::Template)
        } else {
            Ok(PathPattern::Str(StrPattern::parse(s)))
        }
    }

    /// Whether the (normalised, query-less) path matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Str(p) => p.matches(path),
            PathPattern::Template(t) => t.matches(path),
        }
    }
}
