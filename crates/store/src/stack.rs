//! [`LayerStack`]: a result's layers, bottom to top, shared between the results built on it.
//!
//! Why not a `Vec<LayerId>`: each step of a chain (a Dockerfile stage of n instructions) has a
//! result one layer above its input's. As vectors the n results of a chain hold n²/2 layer ids
//! (a 2,500-step chain: 3 million ids, hundreds of MB, copied again into every record of the
//! build); as a stack each result is one link on top of its input's, so they hold n links
//! together. Pushing is O(1) and never copies; reading bottom to top walks the links once.

use std::fmt;
use std::sync::Arc;

use crate::digest::LayerId;

/// Layers bottom to top; cloning and [`LayerStack::push`] share the layers below.
#[derive(Clone, Default)]
pub struct LayerStack {
    top: Option<Arc<Link>>,
}

struct Link {
    layer: LayerId,
    below: Option<Arc<Link>>,
    /// Layers in the stack this link tops (itself included).
    len: usize,
}

impl LayerStack {
    /// No layers (a `scratch` root).
    pub fn new() -> Self {
        Self::default()
    }

    /// How many layers.
    pub fn len(&self) -> usize {
        self.top.as_ref().map_or(0, |l| l.len)
    }

    pub fn is_empty(&self) -> bool {
        self.top.is_none()
    }

    /// This stack with `layer` on top (this one is unchanged and shared).
    pub fn push(&self, layer: LayerId) -> Self {
        LayerStack {
            top: Some(Arc::new(Link {
                layer,
                below: self.top.clone(),
                len: self.len() + 1,
            })),
        }
    }

    /// The topmost layer.
    pub fn top(&self) -> Option<&LayerId> {
        self.top.as_deref().map(|l| &l.layer)
    }

    /// The layers top to bottom (without collecting anything).
    pub fn iter_top_down(&self) -> impl Iterator<Item = &LayerId> {
        let mut at = self.top.as_deref();
        std::iter::from_fn(move || {
            let link = at?;
            at = link.below.as_deref();
            Some(&link.layer)
        })
    }

    /// The layers bottom to top.
    pub fn iter(&self) -> std::iter::Rev<std::vec::IntoIter<&LayerId>> {
        let mut all: Vec<&LayerId> = Vec::with_capacity(self.len());
        all.extend(self.iter_top_down());
        all.into_iter().rev()
    }

    /// The layers bottom to top, as a vector.
    pub fn to_vec(&self) -> Vec<LayerId> {
        self.iter().cloned().collect()
    }

    /// Each distinct layer once, at its topmost place, bottom to top: what an overlay of the
    /// stack shows is the same (a layer repeated lower down is hidden by itself higher up), and
    /// a deep stack of the same few layers (a chain of steps that changed nothing) mounts as a
    /// few lowers.
    pub fn topmost_unique(&self) -> Vec<&LayerId> {
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<&LayerId> = self.iter_top_down().filter(|l| seen.insert(*l)).collect();
        out.reverse();
        out
    }
}

impl Drop for LayerStack {
    /// Unlinks iteratively: the default drop would recurse once per link and overflow the
    /// stack of a deep chain.
    fn drop(&mut self) {
        let mut next = self.top.take();
        while let Some(link) = next {
            next = match Arc::try_unwrap(link) {
                Ok(mut only) => only.below.take(),
                Err(_) => None,
            };
        }
    }
}

impl From<Vec<LayerId>> for LayerStack {
    fn from(layers: Vec<LayerId>) -> Self {
        layers.into_iter().collect()
    }
}

impl FromIterator<LayerId> for LayerStack {
    /// From the layers bottom to top.
    fn from_iter<I: IntoIterator<Item = LayerId>>(layers: I) -> Self {
        layers
            .into_iter()
            .fold(LayerStack::new(), |stack, l| stack.push(l))
    }
}

impl PartialEq for LayerStack {
    fn eq(&self, other: &Self) -> bool {
        let same_link = match (&self.top, &other.top) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same_link || (self.len() == other.len() && self.iter_top_down().eq(other.iter_top_down()))
    }
}

impl Eq for LayerStack {}

impl fmt::Debug for LayerStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> LayerId {
        LayerId::parse(&format!("{n:02x}").repeat(32)).expect("valid id")
    }

    #[test]
    fn pushes_share_and_read_bottom_to_top() {
        let base: LayerStack = vec![id(1), id(2)].into();
        let a = base.push(id(3));
        let b = base.push(id(4));
        assert_eq!(base.to_vec(), vec![id(1), id(2)]);
        assert_eq!(a.to_vec(), vec![id(1), id(2), id(3)]);
        assert_eq!(b.to_vec(), vec![id(1), id(2), id(4)]);
        assert_eq!(a.len(), 3);
        assert_eq!(a.top(), Some(&id(3)));
        assert_eq!(
            a.iter_top_down().cloned().collect::<Vec<_>>(),
            vec![id(3), id(2), id(1)]
        );
        assert_ne!(a, b);
        assert_eq!(a, LayerStack::from(vec![id(1), id(2), id(3)]));
        assert!(LayerStack::new().is_empty());
        assert_eq!(LayerStack::new().top(), None);
    }

    #[test]
    fn topmost_unique_keeps_each_layer_at_its_highest_place() {
        let s: LayerStack = vec![id(1), id(2), id(1), id(3), id(2)].into();
        assert_eq!(s.topmost_unique(), vec![&id(1), &id(3), &id(2)]);
    }

    #[test]
    fn a_very_deep_stack_drops_without_overflowing() {
        // A million links: recursive drops would need far more than a test thread's stack.
        let mut s = LayerStack::new();
        for _ in 0..1_000_000 {
            s = s.push(id(7));
        }
        let shared = s.clone();
        drop(s);
        assert_eq!(shared.len(), 1_000_000);
        drop(shared);
    }
}
