//! The one rule for what counts as a missing value, shared by loading, request validation,
//! preprocessing, exploratory analysis and serving.
//!
//! A value is missing when it is absent (`NaN` in a raw row: an empty cell, `NA`, JSON `null`),
//! or when it is a literal `0` in a column whose config says zero means "not measured".

/// Whether text counts as a missing value: empty, `NA`, `NaN` or `null` (any case, trimmed).
pub fn is_missing_text(text: &str) -> bool {
    let trimmed = text.trim();
    trimmed.is_empty()
        || trimmed.eq_ignore_ascii_case("na")
        || trimmed.eq_ignore_ascii_case("nan")
        || trimmed.eq_ignore_ascii_case("null")
}

/// Whether a raw value is missing: `NaN`, or `0` where zero means "not measured".
pub fn is_missing_value(value: f64, zero_is_missing: bool) -> bool {
    value.is_nan() || (zero_is_missing && value == 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_text_and_values() {
        for text in ["", "  ", "NA", "na", "NaN", "null", " NULL "] {
            assert!(is_missing_text(text), "{text:?}");
        }
        for text in ["0", "n/a?", "none", "12"] {
            assert!(!is_missing_text(text), "{text:?}");
        }
        assert!(is_missing_value(f64::NAN, false));
        assert!(is_missing_value(0.0, true));
        assert!(is_missing_value(-0.0, true));
        assert!(!is_missing_value(0.0, false));
        assert!(!is_missing_value(1.0, true));
    }
}
