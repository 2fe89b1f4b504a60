//! The size of a query once its fragments are expanded, checked before async-graphql looks at it.
//!
//! A fragment that spreads the next one twice doubles the query at each step: 27 fragments, about
//! 1 KB of text, expand to 2^26 selections. async-graphql's limits do not stop this in time: its
//! depth, complexity and directive checks, and execution itself, walk the query with every spread
//! expanded, so their cost is the expanded size; its recursion limit (32) refuses long chains
//! early but walks every shorter one in full. The check here counts each fragment once, memoizing
//! its expanded size over the fragment graph, so its cost is linear in the text, and refuses the
//! query before any of those walks. It also refuses fragment cycles, which have no size.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Request, ServerError};

/// The most selections (fields, fragment spreads and inline fragments) a query may hold once
/// every fragment spread is replaced by the fragment it names, counting its operations and its
/// fragment definitions. GraphiQL's introspection query holds about 300; a query within
/// [`MAX_COMPLEXITY`](crate::schema::MAX_COMPLEXITY) holds at most a few thousand.
pub const MAX_EXPANDED_SELECTIONS: u64 = 5_000;

/// Parses `request` (the parsed document stays in the request, so async-graphql does not parse it
/// again) and refuses it if its fragments spread each other in a cycle or expand to more than
/// `limit` selections.
pub fn check(request: &mut Request, limit: u64) -> Result<(), ServerError> {
    let document = request.parsed_query()?;
    let size = expanded_size(document)?;
    if size > limit {
        let at_least = if size == u64::MAX { "at least " } else { "" };
        return Err(ServerError::new(
            format!(
                "the query is too large: with every fragment spread expanded, its operations and \
                 fragments hold {at_least}{size} selections, over the limit of {limit}"
            ),
            None,
        ));
    }
    Ok(())
}

/// A selection set's own selections, and the fragments it spreads, once per spread.
struct Body<'a> {
    own: u64,
    spreads: Vec<&'a str>,
}

impl<'a> Body<'a> {
    fn of(set: &'a SelectionSet) -> Self {
        let mut body = Body {
            own: 0,
            spreads: Vec::new(),
        };
        body.add(set);
        body
    }

    /// Recursive over nesting, which the parser caps, unlike the fragment chains [`sizes`] walks.
    fn add(&mut self, set: &'a SelectionSet) {
        for selection in &set.items {
            self.own += 1;
            match &selection.node {
                Selection::Field(field) => self.add(&field.node.selection_set.node),
                Selection::InlineFragment(inline) => self.add(&inline.node.selection_set.node),
                Selection::FragmentSpread(spread) => {
                    self.spreads.push(spread.node.fragment_name.node.as_str())
                }
            }
        }
    }

    /// The expanded size, given the expanded size of the fragments spread; a fragment the
    /// document does not define counts for nothing (validation refuses it).
    fn size(&self, sizes: &HashMap<&str, u64>) -> u64 {
        self.spreads
            .iter()
            .map(|name| sizes.get(name).copied().unwrap_or(0))
            .fold(self.own, u64::saturating_add)
    }
}

/// The size of `document` with every spread expanded: its operations' and its fragments'.
fn expanded_size(document: &ExecutableDocument) -> Result<u64, ServerError> {
    let sizes = sizes(document)?;
    Ok(document
        .operations
        .iter()
        .map(|(_, operation)| Body::of(&operation.node.selection_set.node).size(&sizes))
        .chain(sizes.values().copied())
        .fold(0, u64::saturating_add))
}

/// Each fragment's expanded size, computed once per fragment in a depth-first walk of the
/// fragment graph. The walk keeps its own stack: a chain of fragments is as long as the text
/// allows, far deeper than a thread's stack.
fn sizes(document: &ExecutableDocument) -> Result<HashMap<&str, u64>, ServerError> {
    let bodies: HashMap<&str, Body> = document
        .fragments
        .iter()
        .map(|(name, fragment)| (name.as_str(), Body::of(&fragment.node.selection_set.node)))
        .collect();
    let mut sizes = HashMap::with_capacity(bodies.len());
    // The fragments being expanded, each with the index of the next spread to visit.
    let mut path: Vec<(&str, usize)> = Vec::new();
    let mut on_path = HashSet::new();
    for &root in bodies.keys() {
        if sizes.contains_key(root) {
            continue;
        }
        path.push((root, 0));
        on_path.insert(root);
        while let Some((name, next)) = path.last_mut() {
            let body = &bodies[*name];
            let Some(&spread) = body.spreads.get(*next) else {
                sizes.insert(*name, body.size(&sizes));
                on_path.remove(*name);
                path.pop();
                continue;
            };
            *next += 1;
            if sizes.contains_key(spread) || !bodies.contains_key(spread) {
                continue;
            }
            if on_path.contains(spread) {
                return Err(cycle(document, &path, spread));
            }
            on_path.insert(spread);
            path.push((spread, 0));
        }
    }
    Ok(sizes)
}

/// The refusal of a cycle: `path` ends with a fragment that spreads `back`, which is on it.
fn cycle(document: &ExecutableDocument, path: &[(&str, usize)], back: &str) -> ServerError {
    let start = path.iter().position(|(name, _)| *name == back).unwrap_or(0);
    let names: Vec<&str> = path[start..]
        .iter()
        .map(|(name, _)| *name)
        .chain([back])
        .collect();
    let at = document.fragments.get(back).map(|fragment| fragment.pos);
    ServerError::new(
        format!(
            "fragment {back} spreads itself: {}",
            names.join(" spreads ")
        ),
        at,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size_of(query: &str) -> Result<u64, String> {
        let document = async_graphql::parser::parse_query(query).expect("the query parses");
        expanded_size(&document).map_err(|error| error.message)
    }

    /// `{ ...F0 }` and fragments `F0`..`F{n}` on `Query`, each spreading the next twice.
    fn bomb(n: usize) -> String {
        let mut query = String::from("{ ...F0 }");
        for i in 0..n {
            query += &format!(
                " fragment F{i} on Query {{ ...F{next} ...F{next} }}",
                next = i + 1
            );
        }
        query + &format!(" fragment F{n} on Query {{ __typename }}")
    }

    #[test]
    fn a_query_without_fragments_counts_each_selection_once() {
        assert_eq!(size_of("{ user(id: 1) { id friends { name } } }"), Ok(4));
    }

    #[test]
    fn a_fragment_counts_once_per_spread_and_once_for_its_definition() {
        // The operation: `a`, `b` and two spreads of 2 selections each; the fragment: 2 more.
        assert_eq!(
            size_of(
                "{ a: user(id: 1) { ...F } b: user(id: 2) { ...F } } fragment F on User { id name }"
            ),
            Ok(2 + 2 * (1 + 2) + 2)
        );
    }

    #[test]
    fn a_doubling_chain_grows_exponentially_and_saturates() {
        // F{n} holds 1 selection, F{i} 2 spreads of F{i+1}: F0 holds 3 * 2^n - 2.
        let f0 = |n: u32| 3 * 2u64.pow(n) - 2;
        let fragments = |n: u32| (0..=n).map(|i| f0(n - i)).sum::<u64>();
        for n in [1, 10, 20] {
            assert_eq!(size_of(&bomb(n as usize)), Ok(1 + f0(n) + fragments(n)));
        }
        assert_eq!(size_of(&bomb(100)), Ok(u64::MAX));
    }

    #[test]
    fn a_chain_longer_than_the_stack_allows_is_walked() {
        let n = 10_000;
        let mut query = String::from("{ ...F0 }");
        for i in 0..n {
            query += &format!(" fragment F{i} on Query {{ ...F{} }}", i + 1);
        }
        query += &format!(" fragment F{n} on Query {{ __typename }}");
        let document = async_graphql::parser::parse_query(&query).expect("the query parses");
        // A walk recursing once per fragment would overflow this stack some thousands deep.
        let size = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || expanded_size(&document).map_err(|error| error.message))
            .expect("a thread")
            .join()
            .expect("no overflow");
        // F{i} holds n - i + 1 selections, the operation one more than F0.
        let fragments: u64 = (1..=n + 1).sum();
        assert_eq!(size, Ok(n + 2 + fragments));
    }

    #[test]
    fn fragment_cycles_are_refused_naming_the_cycle() {
        let why = size_of("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
            .unwrap_err();
        assert!(
            why == "fragment A spreads itself: A spreads B spreads A"
                || why == "fragment B spreads itself: B spreads A spreads B",
            "{why}"
        );
        assert_eq!(
            size_of("{ ...A } fragment A on Query { __typename ...A }"),
            Err("fragment A spreads itself: A spreads A".into())
        );
    }

    #[test]
    fn spreads_of_undefined_fragments_count_for_the_spread_alone() {
        assert_eq!(size_of("{ ...Nowhere }"), Ok(1));
    }
}
