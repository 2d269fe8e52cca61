//! Bounded, DTD-free XML reading into the element tree (quick-xml underneath).
//!
//! Hostile-input policy: a DOCTYPE is refused outright (so no entity can be defined or
//! expanded), only the five predefined entities and character references are resolved,
//! depth and element count are capped, and the tree is built with an explicit stack rather
//! than recursion. Only UTF-8 is read.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::error::InvoiceError;
use super::tree::Element;
use super::{MAX_DEPTH, MAX_ELEMENTS};

/// Most attributes accepted on one element (invoice elements carry one or two).
pub const MAX_ATTRIBUTES: usize = 64;

/// Parses UTF-8 XML into a tree; see the module doc for what is refused.
pub fn parse(bytes: &[u8]) -> Result<Element, InvoiceError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        InvoiceError::Encoding(format!("invalid UTF-8 at byte {}", e.valid_up_to()))
    })?;
    let mut reader = NsReader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    config.expand_empty_elements = false;

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;

    loop {
        let position = reader.buffer_position();
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| InvoiceError::Xml(format!("{e} (near byte {position})")))?;
        let ns = namespace_of(&resolved)?;
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(InvoiceError::Xml("more than one root element".into()));
            }
            Event::Start(start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(InvoiceError::TooManyElements {
                        limit: MAX_ELEMENTS,
                    });
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(InvoiceError::TooDeep { limit: MAX_DEPTH });
                }
                stack.push(element_from(ns, &start)?);
            }
            Event::Empty(start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(InvoiceError::TooManyElements {
                        limit: MAX_ELEMENTS,
                    });
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(InvoiceError::TooDeep { limit: MAX_DEPTH });
                }
                let el = element_from(ns, &start)?;
                attach(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| InvoiceError::Xml("closing tag without opening tag".into()))?;
                attach(&mut stack, &mut root, el);
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content())?,
            Event::CData(c) => push_text(&mut stack, &c.xml10_content())?,
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(ch)) => ch,
                    Ok(None) => predefined_entity(&r)
                        .ok_or_else(|| InvoiceError::UndefinedEntity(r.to_string()))?,
                    Err(e) => {
                        return Err(InvoiceError::Xml(format!("bad character reference: {e}")));
                    }
                };
                push_text(&mut stack, ch.encode_utf8(&mut [0u8; 4]))?;
            }
            Event::DocType(_) => return Err(InvoiceError::Doctype),
            Event::Decl(decl) => {
                if let Some(enc) = decl.encoding() {
                    let enc =
                        enc.map_err(|e| InvoiceError::Xml(format!("XML declaration: {e}")))?;
                    let enc = enc.to_ascii_lowercase();
                    if enc != "utf-8" && enc != "utf8" {
                        return Err(InvoiceError::Encoding(format!(
                            "the XML declaration names encoding {enc:?}"
                        )));
                    }
                }
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(InvoiceError::Xml("document ends inside an element".into()));
    }
    root.ok_or_else(|| InvoiceError::Xml("no root element".into()))
}

fn namespace_of(resolved: &ResolveResult<'_>) -> Result<Option<String>, InvoiceError> {
    match resolved {
        ResolveResult::Bound(ns) => Ok(Some(ns.as_ref().to_string())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(prefix) => Err(InvoiceError::Xml(format!(
            "namespace prefix {prefix:?} is not declared"
        ))),
    }
}

fn element_from(ns: Option<String>, start: &BytesStart<'_>) -> Result<Element, InvoiceError> {
    let local = start.local_name().as_ref().to_string();
    let mut el = Element::new(ns, local);
    for (i, attr) in start.attributes().enumerate() {
        if i >= MAX_ATTRIBUTES {
            return Err(InvoiceError::Xml(format!(
                "more than {MAX_ATTRIBUTES} attributes on element {}",
                el.name
            )));
        }
        let attr = attr.map_err(|e| InvoiceError::Xml(format!("attribute: {e}")))?;
        let key = attr.key;
        if key.as_ref() == "xmlns" || key.as_ref().starts_with("xmlns:") {
            continue;
        }
        let value =
            attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| match e {
                    quick_xml::Error::Escape(
                        quick_xml::escape::EscapeError::UnrecognizedEntity(_, name),
                    ) => InvoiceError::UndefinedEntity(name),
                    other => InvoiceError::Xml(format!("attribute value: {other}")),
                })?;
        let local = key.local_name().as_ref().to_string();
        el.attrs.push((local, value.into_owned()));
    }
    Ok(el)
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), InvoiceError> {
    match stack.last_mut() {
        Some(top) => {
            top.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(InvoiceError::Xml("text outside the root element".into())),
    }
}

fn predefined_entity(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_namespaces_attributes_and_entities() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<r:Root xmlns:r="urn:r" xmlns="urn:d"><A id="x&amp;y">a &lt; b &#x4E2D;<![CDATA[<c>]]></A><B/></r:Root>"#;
        let root = parse(xml.as_bytes()).expect("well-formed");
        assert_eq!(root.name, "Root");
        assert_eq!(root.ns.as_deref(), Some("urn:r"));
        let a = &root.children[0];
        assert_eq!(a.ns.as_deref(), Some("urn:d"), "default namespace applies");
        assert_eq!(a.attr("id"), Some("x&y"));
        assert_eq!(a.text, "a < b 中<c>");
        assert_eq!(root.children[1].name, "B");
    }

    #[test]
    fn refuses_doctype_and_entities() {
        let xml = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "boom">]><r>&e;</r>"#;
        assert_eq!(parse(xml), Err(InvoiceError::Doctype));
        assert_eq!(
            parse(b"<r>&e;</r>"),
            Err(InvoiceError::UndefinedEntity("e".into()))
        );
        assert!(matches!(
            parse(br#"<r a="&e;"/>"#),
            Err(InvoiceError::UndefinedEntity(_))
        ));
    }

    #[test]
    fn refuses_deep_nesting_and_bad_structure() {
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert_eq!(
            parse(deep.as_bytes()),
            Err(InvoiceError::TooDeep { limit: MAX_DEPTH })
        );
        let ok = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
        assert!(matches!(parse(b"<a><b></a>"), Err(InvoiceError::Xml(_))));
        assert!(matches!(parse(b"<a></a><b/>"), Err(InvoiceError::Xml(_))));
        assert!(matches!(parse(b"<a>"), Err(InvoiceError::Xml(_))));
        assert!(matches!(parse(b"text"), Err(InvoiceError::Xml(_))));
        assert!(matches!(parse(b"<p:a/>"), Err(InvoiceError::Xml(_))));
    }

    #[test]
    fn refuses_other_encodings() {
        assert!(matches!(
            parse(br#"<?xml version="1.0" encoding="GBK"?><a/>"#),
            Err(InvoiceError::Encoding(_))
        ));
        assert!(matches!(
            parse(b"<a>\xff</a>"),
            Err(InvoiceError::Encoding(_))
        ));
        assert!(parse(b"\xEF\xBB\xBF<a/>").is_ok(), "a UTF-8 BOM is fine");
    }

    #[test]
    fn caps_attributes_per_element() {
        let attrs: String = (0..=MAX_ATTRIBUTES)
            .map(|i| format!(" a{i}=\"\""))
            .collect();
        assert!(
            matches!(parse(format!("<a{attrs}/>").as_bytes()), Err(InvoiceError::Xml(m)) if m.contains("attributes"))
        );
        let fewer: String = (0..MAX_ATTRIBUTES).map(|i| format!(" a{i}=\"\"")).collect();
        assert!(parse(format!("<a{fewer}/>").as_bytes()).is_ok());
    }

    #[test]
    fn caps_element_count() {
        let many = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS));
        assert_eq!(
            parse(many.as_bytes()),
            Err(InvoiceError::TooManyElements {
                limit: MAX_ELEMENTS
            })
        );
    }
}
