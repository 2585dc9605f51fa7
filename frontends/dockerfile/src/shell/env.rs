//! Where variable values come from during expansion.
//!
//! Expansion only ever *looks up* names, so the lexer takes a small read-only trait instead
//! of a concrete map: the lowering code can pass its build-arg scope, a `Vec` of `ENV`
//! pairs in declaration order, or a map, without copying. A name that is present with an
//! empty value is *set* (this matters for `${v-w}` versus `${v:-w}`).

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// A read-only variable environment.
pub trait Env {
    /// The value of `name`, or `None` when it is unset.
    fn get(&self, name: &str) -> Option<&str>;
}

/// Pairs in definition order; like BuildKit's `EnvsFromSlice`, a later definition of the
/// same name wins.
impl<K: AsRef<str>, V: AsRef<str>> Env for [(K, V)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Env for Vec<(K, V)> {
    fn get(&self, name: &str) -> Option<&str> {
        Env::get(self.as_slice(), name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Env for [(K, V); N] {
    fn get(&self, name: &str) -> Option<&str> {
        Env::get(self.as_slice(), name)
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

impl<S: BuildHasher> Env for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

impl<E: Env + ?Sized> Env for &E {
    fn get(&self, name: &str) -> Option<&str> {
        (**self).get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_definition_wins_in_slices() {
        let env = vec![("A".to_string(), "1".to_string()), ("A".into(), "2".into())];
        assert_eq!(Env::get(&env, "A"), Some("2"));
        assert_eq!(Env::get(&env, "B"), None);
        let pairs = [("X", ""), ("Y", "y")];
        assert_eq!(Env::get(&pairs, "X"), Some(""));
    }

    #[test]
    fn maps() {
        let mut b = BTreeMap::new();
        b.insert("K".to_string(), "v".to_string());
        assert_eq!(Env::get(&b, "K"), Some("v"));
        let h: HashMap<String, String> = b.into_iter().collect();
        assert_eq!(Env::get(&h, "K"), Some("v"));
        assert_eq!(Env::get(&h, "k"), None);
    }
}
