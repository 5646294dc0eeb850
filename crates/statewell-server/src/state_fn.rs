//! The state functions the engine serves (`state::set`, ...): their wire ids
//! and the operation names metrics count them under. The HTTP routes are the
//! same operations and are counted under the same names.

/// The built-in state functions. `StateFn::COUNT` and `StateFn::iter()`
/// size and walk the metrics' per-function tables, so a new function gets
/// its series by adding its variant and, below, its id and name. (The
/// order is the order `/metrics` lists them in.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumCount, strum::EnumIter)]
pub enum StateFn {
    Set,
    Get,
    GetItem,
    Delete,
    Update,
    List,
    ListItems,
    Clear,
    ListGroups,
    Transaction,
}

impl StateFn {
    pub fn from_id(function_id: &str) -> Option<StateFn> {
        Some(match function_id {
            "state::set" => StateFn::Set,
            "state::get" => StateFn::Get,
            "state::delete" => StateFn::Delete,
            "state::update" => StateFn::Update,
            "state::list" => StateFn::List,
            "state::list_groups" => StateFn::ListGroups,
            "state::clear" => StateFn::Clear,
            "state::list_items" => StateFn::ListItems,
            "state::get_item" => StateFn::GetItem,
            "state::transaction" => StateFn::Transaction,
            _ => return None,
        })
    }

    pub fn id(self) -> &'static str {
        match self {
            StateFn::Set => "state::set",
            StateFn::Get => "state::get",
            StateFn::Delete => "state::delete",
            StateFn::Update => "state::update",
            StateFn::List => "state::list",
            StateFn::ListGroups => "state::list_groups",
            StateFn::Clear => "state::clear",
            StateFn::ListItems => "state::list_items",
            StateFn::GetItem => "state::get_item",
            StateFn::Transaction => "state::transaction",
        }
    }

    /// The operation name in metrics (the `kind` label).
    pub fn kind(self) -> &'static str {
        match self {
            StateFn::Set => "set",
            StateFn::Get => "get",
            StateFn::Delete => "delete",
            StateFn::Update => "update",
            StateFn::List => "list",
            StateFn::ListGroups => "list_groups",
            StateFn::Clear => "clear",
            StateFn::ListItems => "list_items",
            StateFn::GetItem => "get_item",
            StateFn::Transaction => "transaction",
        }
    }
}

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator;

    use super::*;

    #[test]
    fn every_function_is_found_by_its_id() {
        for function in StateFn::iter() {
            assert_eq!(StateFn::from_id(function.id()), Some(function));
        }
        assert_eq!(StateFn::from_id("state::nope"), None);
    }
}
