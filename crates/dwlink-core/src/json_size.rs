//! How many values a JSON text holds, counted without parsing it: a parsed value costs far more
//! memory than its bytes (`[[[…]]]` costs over 60 times its size as `serde_json::Value`s, `0,0,…`
//! sixteen), so a byte limit alone does not bound what parsing a hostile file takes.

/// The values in `bytes` (arrays and objects count as one each, like their members), counted by
/// their separators outside strings; an upper bound for malformed input, which the parser then
/// refuses anyway.
pub fn values(bytes: &[u8]) -> usize {
    let mut count = 1;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' | b',' => count += 1,
            _ => {}
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::values;

    #[test]
    fn counts_values_not_bytes() {
        assert_eq!(values(b"0"), 1);
        assert_eq!(values(b"[0,0,0]"), 4);
        assert_eq!(values(b"{\"a,[{\":[[]]}"), 4);
        assert_eq!(values(b"[\"\\\",[\",1]"), 3);
        let nested = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(values(nested.as_bytes()), 101);
    }
}
