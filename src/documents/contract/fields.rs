//! The AcroForm field tree of a `lopdf` document, walked with bounds: the names of all
//! terminal fields, and the signature fields with their signature dictionaries.

use std::collections::HashSet;

use lopdf::{Dictionary, Document, Object, ObjectId};

/// Most fields visited.
const MAX_FIELDS: usize = 10_000;
/// Deepest /Kids nesting followed.
const MAX_DEPTH: usize = 16;

/// A terminal form field.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// Fully qualified name: the partial names (/T) from the root joined by '.'.
    pub name: String,
    /// Whether its (possibly inherited) /FT is /Sig.
    pub is_signature: bool,
    /// Its value (/V), resolved when it is a reference.
    pub value: Option<Dictionary>,
}

/// The document's AcroForm dictionary and the object it lives in (`None` when inline in the
/// catalog).
pub(crate) fn acroform(doc: &Document) -> Option<(Option<ObjectId>, &Dictionary)> {
    let catalog = doc.catalog().ok()?;
    let af = catalog.get(b"AcroForm").ok()?;
    let (id, obj) = doc.dereference(af).ok()?;
    obj.as_dict().ok().map(|d| (id, d))
}

/// Lossy text of a PDF text string: UTF-16BE with a BOM, else bytes as Latin-1/ASCII.
pub(crate) fn text(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| match c {
                [a, b] => u16::from_be_bytes([*a, *b]),
                _ => 0xFFFD,
            })
            .collect();
        return String::from_utf16_lossy(&units);
    }
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Every terminal field of the document's AcroForm, in tree order.
pub(crate) fn fields(doc: &Document) -> Vec<Field> {
    let mut walk = Walk {
        doc,
        seen: HashSet::new(),
        out: Vec::new(),
    };
    if let Some((_, af)) = acroform(doc)
        && let Ok(list) = af.get(b"Fields").and_then(|f| doc.dereference(f))
        && let Ok(list) = list.1.as_array()
    {
        for f in list {
            walk.visit(f, "", false, 0);
        }
    }
    walk.out
}

struct Walk<'d> {
    doc: &'d Document,
    seen: HashSet<ObjectId>,
    out: Vec<Field>,
}

impl Walk<'_> {
    fn visit(&mut self, obj: &Object, parent: &str, inherited_sig: bool, depth: usize) {
        if depth > MAX_DEPTH || self.seen.len() > MAX_FIELDS {
            return;
        }
        if let Object::Reference(id) = obj
            && !self.seen.insert(*id)
        {
            return; // a cycle
        }
        let Ok((_, resolved)) = self.doc.dereference(obj) else {
            return;
        };
        let Ok(dict) = resolved.as_dict() else {
            return;
        };
        let partial = dict.get(b"T").and_then(Object::as_str).map(text).ok();
        let name = match (&partial, parent.is_empty()) {
            (Some(p), true) => p.clone(),
            (Some(p), false) => format!("{parent}.{p}"),
            (None, _) => parent.to_string(),
        };
        let is_sig = match dict.get(b"FT").and_then(Object::as_name) {
            Ok(ft) => ft == b"Sig",
            Err(_) => inherited_sig,
        };
        // Kids that carry a /T are fields; kids without are widgets of this field.
        let kids: Vec<Object> = dict
            .get(b"Kids")
            .and_then(|k| self.doc.dereference(k))
            .and_then(|(_, k)| k.as_array().cloned())
            .unwrap_or_default();
        let field_kids: Vec<&Object> = kids
            .iter()
            .filter(|k| {
                self.doc
                    .dereference(k)
                    .ok()
                    .and_then(|(_, d)| d.as_dict().ok())
                    .is_some_and(|d| d.has(b"T"))
            })
            .collect();
        if field_kids.is_empty() {
            let value = dict
                .get(b"V")
                .and_then(|v| self.doc.dereference(v))
                .and_then(|(_, v)| v.as_dict().cloned())
                .ok();
            self.out.push(Field {
                name,
                is_signature: is_sig,
                value,
            });
            return;
        }
        for k in field_kids {
            self.visit(k, &name, is_sig, depth + 1);
        }
    }
}
