//! Lines for the alert file of `pcaplens live`: one JSON object per
//! finding (and per ended flow with `--eve-flows`).

use pcaplens_core::Event;

/// A finding as one JSON line (None for other events).
pub fn alert_line(ev: &Event) -> Option<String> {
    matches!(ev, Event::Finding(_)).then(|| serde_json::to_string(ev).unwrap_or_default())
}

/// An ended flow as one JSON line (None for other events).
pub fn flow_line(ev: &Event) -> Option<String> {
    matches!(ev, Event::FlowEnded(_)).then(|| serde_json::to_string(ev).unwrap_or_default())
}
