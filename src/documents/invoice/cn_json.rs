//! Reads the JSON form of a Chinese e-invoice into the element tree (`docs/invoice-json.md`).
//!
//! The JSON mirrors the XML element for element: `{"EInvoice": {...}}` or `{"eInvoice": {...}}`;
//! an object is an element with children, a string (or integer) is an element's text, an array
//! repeats the element, `null` means absent. Fractional JSON numbers are refused: a binary
//! float cannot carry an amount exactly, so amounts are written as strings.

use serde_json::Value;

use super::error::InvoiceError;
use super::tree::Element;
use super::{MAX_DEPTH, MAX_ELEMENTS};

/// Parses the JSON into a tree whose root is the single top-level key.
pub fn parse(bytes: &[u8]) -> Result<Element, InvoiceError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| InvoiceError::Json(format!("{e}")))?;
    let Value::Object(top) = value else {
        return Err(InvoiceError::Json("the top level must be an object".into()));
    };
    let mut entries = top.into_iter();
    let (Some((name, body)), None) = (entries.next(), entries.next()) else {
        return Err(InvoiceError::Json(
            "the top-level object must have exactly one key, \"EInvoice\" or \"eInvoice\"".into(),
        ));
    };
    let mut count = 0usize;
    let mut root = Element::new(None, name.clone());
    fill(&mut root, &body, &format!("/{name}"), 1, &mut count)?;
    Ok(root)
}

fn fill(
    el: &mut Element,
    value: &Value,
    path: &str,
    depth: usize,
    count: &mut usize,
) -> Result<(), InvoiceError> {
    *count += 1;
    if *count > MAX_ELEMENTS {
        return Err(InvoiceError::TooManyElements {
            limit: MAX_ELEMENTS,
        });
    }
    if depth > MAX_DEPTH {
        return Err(InvoiceError::TooDeep { limit: MAX_DEPTH });
    }
    match value {
        Value::Null => {}
        Value::String(s) => el.text = s.clone(),
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                el.text = n.to_string();
            } else {
                return Err(InvoiceError::Json(format!(
                    "{path}: fractional JSON numbers are not accepted; write amounts as strings (\"{n}\")"
                )));
            }
        }
        Value::Bool(_) => {
            return Err(InvoiceError::Json(format!(
                "{path}: booleans are not part of the schema"
            )));
        }
        Value::Array(_) => {
            return Err(InvoiceError::Json(format!(
                "{path}: an array cannot hold an array"
            )));
        }
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = format!("{path}/{key}");
                let items: &[Value] = match child {
                    Value::Array(items) => items,
                    other => std::slice::from_ref(other),
                };
                for item in items {
                    if item.is_null() {
                        continue;
                    }
                    let mut c = Element::new(None, key.clone());
                    fill(&mut c, item, &child_path, depth + 1, count)?;
                    el.children.push(c);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_elements_arrays_and_text() {
        let json = r#"{"EInvoice":{"Header":{"EIid":"1"},"Items":[{"A":"x"},{"A":7}],"N":null}}"#;
        let root = parse(json.as_bytes()).expect("valid");
        assert_eq!(root.name, "EInvoice");
        assert_eq!(root.children.len(), 3, "null is absent");
        let items: Vec<_> = root.children.iter().filter(|c| c.name == "Items").collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].children[0].text, "7");
    }

    #[test]
    fn refuses_floats_bools_and_bad_shapes() {
        for bad in [
            r#"{"EInvoice":{"Amount":1.5}}"#,
            r#"{"EInvoice":{"Flag":true}}"#,
            r#"{"EInvoice":{"A":[[1]]}}"#,
            r#"{"EInvoice":{},"eInvoice":{}}"#,
            r#"[]"#,
            r#"{"EInvoice": "#,
        ] {
            assert!(
                matches!(parse(bad.as_bytes()), Err(InvoiceError::Json(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn depth_is_capped() {
        let deep = format!(
            "{{\"EInvoice\":{}\"x\"{}}}",
            "{\"a\":".repeat(MAX_DEPTH),
            "}".repeat(MAX_DEPTH)
        );
        assert_eq!(
            parse(deep.as_bytes()),
            Err(InvoiceError::TooDeep { limit: MAX_DEPTH })
        );
        let very_deep = "[".repeat(10_000);
        assert!(matches!(
            parse(very_deep.as_bytes()),
            Err(InvoiceError::Json(_))
        ));
    }
}
