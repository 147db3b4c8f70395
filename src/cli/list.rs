//! `chainflow list`: every dataflow with its outputs, keys and columns.

/// The text `chainflow list` prints.
pub fn list() -> String {
    let mut out = String::new();
    for df in crate::dataflows::registry() {
        out.push_str(&format!("{}  {}\n", df.name(), df.doc()));
        for spec in df.outputs() {
            out.push_str(&format!(
                "  output {}  key ({})  {}\n",
                spec.name,
                spec.key.join(", "),
                spec.doc
            ));
            for c in spec.columns {
                out.push_str(&format!(
                    "    {:<18} {:<10} {}\n",
                    c.name,
                    c.ty.name(),
                    c.doc
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_names_outputs_and_columns() {
        let text = list();
        assert!(text.contains("gas_fees"));
        assert!(text.contains("output gas_fees_blocks  key (chain_id, block_number)"));
        assert!(text.contains("priority_fee_p90"));
        assert!(text.contains("output gas_fees_minutes  key (chain_id, minute)"));
    }
}
