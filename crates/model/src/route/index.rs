//! Path index of a virtual host: which match entries could hold for a path.
//!
//! Entries with an exact or prefix `uri` are indexed by that string; the rest (regex, case-
//! insensitive, no `uri`, routes without `match`) are always candidates. A lookup merges the
//! candidate lists in rule order and tests entries until the first full match, so first-match-
//! wins semantics hold while a host with thousands of path rules tests only a handful.

use super::LookupMap;

use super::matcher::{RequestView, StrMatch};
use super::Route;

/// Marks an entry for a route without `match` (a catch-all).
const NO_MATCH_ENTRY: u32 = u32::MAX;
/// Most candidate lists merged without allocating; beyond this the lookup scans linearly.
const MAX_LISTS: usize = 16;

/// Candidate index over the `(route, match entry)` pairs of one virtual host.
#[derive(Debug, Default)]
pub struct PathIndex {
    /// `(route, match entry)` in rule order; ids in the lists below index this.
    entries: Vec<(u32, u32)>,
    exact: LookupMap<Vec<u32>>,
    prefix: LookupMap<Vec<u32>>,
    /// Distinct prefix lengths, ascending.
    prefix_lens: Vec<usize>,
    always: Vec<u32>,
}

impl PathIndex {
    /// Indexes the match entries of `routes`.
    pub fn build(routes: &[Route]) -> Self {
        let mut index = Self::default();
        for (r, route) in routes.iter().enumerate() {
            if route.matches.is_empty() {
                let id = index.entries.len() as u32;
                index.entries.push((r as u32, NO_MATCH_ENTRY));
                index.always.push(id);
                continue;
            }
            for (m, entry) in route.matches.iter().enumerate() {
                let id = index.entries.len() as u32;
                index.entries.push((r as u32, m as u32));
                match entry.uri.as_ref() {
                    Some(uri) if !uri.ignore_case => match &uri.kind {
                        StrMatch::Exact(p) => index.exact.entry(p.clone()).or_default().push(id),
                        StrMatch::Prefix(p) => {
                            if !index.prefix_lens.contains(&p.len()) {
                                index.prefix_lens.push(p.len());
                            }
                            index.prefix.entry(p.clone()).or_default().push(id)
                        }
                        _ => index.always.push(id),
                    },
                    _ => index.always.push(id),
                }
            }
        }
        index.prefix_lens.sort_unstable();
        index
    }

    /// The first route whose match holds, and which match entry held.
    pub fn find<'a, 'r>(
        &'a self,
        routes: &'r [Route],
        req: &RequestView<'_>,
    ) -> Option<(&'r Route, Option<usize>)> {
        let mut lists: [&[u32]; MAX_LISTS] = [&[]; MAX_LISTS];
        lists[0] = &self.always;
        let mut n = 1;
        let mut fits = true;
        let mut push = |list: &'a [u32]| {
            if n == MAX_LISTS {
                fits = false;
            } else {
                lists[n] = list;
                n += 1;
            }
        };
        if let Some(ids) = self.exact.get(req.path) {
            push(ids);
        }
        for &len in &self.prefix_lens {
            if len > req.path.len() {
                break;
            }
            if let Some(ids) = req.path.get(..len).and_then(|p| self.prefix.get(p)) {
                push(ids);
            }
        }
        if !fits {
            return self.scan(routes, req);
        }
        let lists = &mut lists[..n];
        loop {
            // The smallest head across lists is the next candidate in rule order.
            let mut best: Option<(usize, u32)> = None;
            for (i, list) in lists.iter().enumerate() {
                if let Some(&head) = list.first() {
                    if best.is_none_or(|(_, b)| head < b) {
                        best = Some((i, head));
                    }
                }
            }
            let (i, id) = best?;
            lists[i] = &lists[i][1..];
            if let Some(hit) = self.check(routes, id, req) {
                return Some(hit);
            }
        }
    }

    fn check<'r>(
        &self,
        routes: &'r [Route],
        id: u32,
        req: &RequestView<'_>,
    ) -> Option<(&'r Route, Option<usize>)> {
        let (r, m) = self.entries[id as usize];
        let route = &routes[r as usize];
        if m == NO_MATCH_ENTRY {
            return Some((route, None));
        }
        route.matches[m as usize]
            .matches(req)
            .then_some((route, Some(m as usize)))
    }

    /// Reference path: test every entry in order.
    fn scan<'r>(
        &self,
        routes: &'r [Route],
        req: &RequestView<'_>,
    ) -> Option<(&'r Route, Option<usize>)> {
        (0..self.entries.len() as u32).find_map(|id| self.check(routes, id, req))
    }
}

#[cfg(test)]
mod tests;
