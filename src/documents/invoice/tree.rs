//! The small element tree every invoice syntax is read into before extraction.
//!
//! XML (`xml_tree`) and JSON (`cn_json`) both produce this tree, so one extractor serves both
//! and the same Chinese invoice in either syntax yields the same model. The tree holds only
//! what extraction needs: namespace URI, local name, attributes by local name, direct text.

/// One element: namespace URI (if bound), local name, attributes, direct text and children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI the element's prefix resolved to; `None` when unbound.
    pub ns: Option<String>,
    /// Local name (without prefix).
    pub name: String,
    /// Attributes as (local name, value), namespace declarations excluded.
    pub attrs: Vec<(String, String)>,
    /// Concatenated direct text content (entities resolved), not trimmed.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

/// Which namespace a lookup accepts: one URI exactly, or any (Chinese formats ignore them).
#[derive(Debug, Clone, Copy)]
pub enum Ns<'a> {
    /// The element must be bound to exactly this namespace URI.
    Uri(&'a str),
    /// Any namespace or none.
    Any,
}

impl Element {
    /// Creates an element with a local name and optional namespace.
    pub fn new(ns: Option<String>, name: impl Into<String>) -> Self {
        Element {
            ns,
            name: name.into(),
            ..Element::default()
        }
    }

    fn matches(&self, ns: Ns<'_>, name: &str) -> bool {
        self.name == name
            && match ns {
                Ns::Any => true,
                Ns::Uri(uri) => self.ns.as_deref() == Some(uri),
            }
    }

    /// Whether this element has the given namespace and local name.
    pub fn is(&self, ns: Ns<'_>, name: &str) -> bool {
        self.matches(ns, name)
    }

    /// The first child with this namespace and local name.
    pub fn child(&self, ns: Ns<'_>, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.matches(ns, name))
    }

    /// Every child with this namespace and local name, in document order.
    pub fn children_named<'s>(
        &'s self,
        ns: Ns<'s>,
        name: &'s str,
    ) -> impl Iterator<Item = &'s Element> + 's {
        self.children.iter().filter(move |c| c.matches(ns, name))
    }

    /// Follows a path of local names (same namespace rule at each step), first match each time.
    pub fn descend(&self, ns: Ns<'_>, path: &[&str]) -> Option<&Element> {
        let mut cur = self;
        for step in path {
            cur = cur.child(ns, step)?;
        }
        Some(cur)
    }

    /// The value of an attribute by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The text with whitespace trimmed and inner runs collapsed to one space; `None` if empty.
    pub fn clean_text(&self) -> Option<String> {
        clean(&self.text)
    }
}

/// Trims a string and collapses inner whitespace runs to one space; `None` if nothing is left.
///
/// Whitespace inside values is not meaningful in these formats (xs:token-like), and collapsing
/// it keeps the canonical digest stable across re-serialisation.
pub fn clean(s: &str) -> Option<String> {
    let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.is_empty() {
        None
    } else {
        Some(joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Element {
        let mut root = Element::new(Some("urn:a".into()), "Root");
        let mut a = Element::new(Some("urn:b".into()), "A");
        a.text = "  one \n\t two ".into();
        a.attrs.push(("currencyID".into(), "EUR".into()));
        let b1 = Element::new(Some("urn:b".into()), "B");
        let mut b2 = Element::new(None, "B");
        b2.children.push(Element::new(None, "C"));
        root.children = vec![a, b1, b2];
        root
    }

    #[test]
    fn namespace_rules_apply() {
        let root = sample();
        assert!(root.child(Ns::Uri("urn:b"), "A").is_some());
        assert!(root.child(Ns::Uri("urn:a"), "A").is_none());
        assert_eq!(root.children_named(Ns::Any, "B").count(), 2);
        assert_eq!(root.children_named(Ns::Uri("urn:b"), "B").count(), 1);
        assert!(
            root.descend(Ns::Any, &["B", "C"]).is_none(),
            "first B has no C"
        );
    }

    #[test]
    fn text_is_cleaned_and_attrs_found() {
        let root = sample();
        let a = root.child(Ns::Any, "A").expect("A present");
        assert_eq!(a.clean_text().as_deref(), Some("one two"));
        assert_eq!(a.attr("currencyID"), Some("EUR"));
        assert_eq!(a.attr("schemeID"), None);
        assert_eq!(clean(" \n "), None);
    }
}
