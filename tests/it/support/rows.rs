//! Comparing the rows of an output with the rows expected.

use chainflow::engine::dataflow::Value;

/// `None` when `got` equals `want`; otherwise a few rows only in `got` and a few only in
/// `want`, for a failure message.
pub fn difference(got: &[Vec<Value>], want: &[Vec<Value>]) -> Option<String> {
    if got == want {
        return None;
    }
    let extra: Vec<_> = got.iter().filter(|r| !want.contains(r)).take(3).collect();
    let missing: Vec<_> = want.iter().filter(|r| !got.contains(r)).take(3).collect();
    Some(format!("extra {extra:?}, missing {missing:?}"))
}
