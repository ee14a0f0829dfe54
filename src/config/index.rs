//! Typed positions in a validated [`Config`](super::Config)'s vectors.
//!
//! One naming rule: an `…Index` is a position in one of `Config`'s vectors, valid for the life of
//! that `Config` only (a reload builds new ones); an `id` is a name a user wrote (a service id, a
//! key pair's SecretId). Each index is its own type, so an API's position cannot be used to pick
//! a function, and `config.apis[api]` takes an [`ApiIndex`] only. A position is a plain `usize`
//! inside: these cost nothing at run time.

use super::{Api, Function, Secret, Service, UsagePlan};

macro_rules! config_index {
    ($(#[$doc:meta])* $name:ident => $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(usize);

        impl $name {
            /// The index of the item at `position` in its vector.
            pub const fn new(position: usize) -> Self {
                $name(position)
            }

            /// The position, for per-item tables kept outside `Config` (metrics, limits).
            pub const fn get(self) -> usize {
                self.0
            }

            /// Every index of a vector of `len` items, in order.
            pub fn all(len: usize) -> impl DoubleEndedIterator<Item = $name> + ExactSizeIterator {
                (0..len).map($name)
            }

            /// Each item of `items` with its index, in order.
            pub fn enumerate(items: &[$item]) -> impl DoubleEndedIterator<Item = ($name, &$item)> + ExactSizeIterator {
                items.iter().enumerate().map(|(position, item)| ($name(position), item))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::ops::Index<$name> for [$item] {
            type Output = $item;

            fn index(&self, index: $name) -> &$item {
                &self[index.0]
            }
        }

        impl std::ops::IndexMut<$name> for [$item] {
            fn index_mut(&mut self, index: $name) -> &mut $item {
                &mut self[index.0]
            }
        }

        impl std::ops::Index<$name> for Vec<$item> {
            type Output = $item;

            fn index(&self, index: $name) -> &$item {
                &self[index.0]
            }
        }

        impl std::ops::IndexMut<$name> for Vec<$item> {
            fn index_mut(&mut self, index: $name) -> &mut $item {
                &mut self[index.0]
            }
        }
    };
}

config_index! {
    /// Position of an API in [`Config::apis`](super::Config::apis).
    ApiIndex => Api
}
config_index! {
    /// Position of a function in [`Config::functions`](super::Config::functions).
    FunctionIndex => Function
}
config_index! {
    /// Position of a service in [`Config::services`](super::Config::services).
    ServiceIndex => Service
}
config_index! {
    /// Position of a usage plan in [`Config::usage_plans`](super::Config::usage_plans).
    PlanIndex => UsagePlan
}
config_index! {
    /// Position of a key pair in [`Config::secrets`](super::Config::secrets).
    SecretIndex => Secret
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_round_trips_its_position_and_enumerates_in_order() {
        assert_eq!(ApiIndex::new(7).get(), 7);
        assert_eq!(FunctionIndex::new(3).to_string(), "3");
        let all: Vec<usize> = PlanIndex::all(3).map(PlanIndex::get).collect();
        assert_eq!(all, [0, 1, 2]);
        assert!(SecretIndex::new(1) < SecretIndex::new(2));
    }
}
