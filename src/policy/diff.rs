//! Drift between a deployed policy and the rendered one.
//!
//! APIM stores a policy as XML and gives it back re-serialized: its own indentation (tabs)
//! and line ends (CRLF), every attribute in double quotes with `"` as `&quot;`, line breaks
//! inside attribute values as `&#xA;`, empty elements as `<x />` or `<x></x>`, comments kept
//! or not. So two documents are compared by their content — elements, attributes in order,
//! text — with comments dropped and whitespace runs collapsed: [`normalize`], and
//! [`equivalent`] on top of it, the one comparison the plan, `status --check`,
//! `policy diff` and `policy push` all use. The diff shown to people is of a readable form
//! of the same content.

use quick_xml::events::{BytesStart, Event};

use super::PolicyError;

/// The content of a policy document as one canonical string: two documents APIM treats
/// as the same policy normalize to the same string.
pub fn normalize(xml: &str) -> Result<String, PolicyError> {
    Ok(Outline::parse(xml)?.collapsed())
}

/// True when two policy documents say the same thing (a malformed one equals nothing).
pub fn equivalent(a: &str, b: &str) -> bool {
    match (normalize(a), normalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A unified diff from `deployed` to `rendered`, or `None` when they say the same thing.
pub fn diff(deployed: &str, rendered: &str) -> Result<Option<String>, PolicyError> {
    if normalize(deployed)? == normalize(rendered)? {
        return Ok(None);
    }
    let (old, new) = (Outline::parse(deployed)?, Outline::parse(rendered)?);
    let (old, new) = (old.readable(), new.readable());
    let text = similar::TextDiff::from_lines(&old, &new);
    Ok(Some(text.unified_diff().context_radius(3).header("deployed", "rendered").to_string()))
}

/// The content of a document as lines: one per element start, text or end.
#[derive(Debug, Default)]
struct Outline {
    lines: Vec<(usize, Line)>,
}

#[derive(Debug)]
enum Line {
    Start { name: String, attrs: Vec<(String, String)>, empty: bool },
    Text(String),
    End(String),
}

impl Outline {
    fn parse(xml: &str) -> Result<Outline, PolicyError> {
        let mut reader = quick_xml::Reader::from_str(xml);
        reader.config_mut().check_end_names = true;
        let mut outline = Outline::default();
        let mut depth = 0;
        let malformed = |e: &dyn std::fmt::Display, at: u64| PolicyError::Malformed(format!("at byte {at}: {e}"));
        let mut text = String::new();
        loop {
            let event = reader.read_event().map_err(|e| malformed(&e, reader.buffer_position()))?;
            if !matches!(event, Event::Text(_) | Event::GeneralRef(_) | Event::CData(_)) {
                let text = std::mem::take(&mut text);
                if !text.trim().is_empty() {
                    outline.lines.push((depth, Line::Text(text)));
                }
            }
            match event {
                Event::Start(e) => {
                    outline.lines.push((depth, start(&e, false).map_err(|e| malformed(&e, reader.buffer_position()))?));
                    depth += 1;
                }
                Event::Empty(e) => {
                    outline.lines.push((depth, start(&e, true).map_err(|e| malformed(&e, reader.buffer_position()))?));
                }
                Event::End(e) => {
                    depth = depth.saturating_sub(1);
                    outline.lines.push((depth, Line::End(String::from_utf8_lossy(e.name().as_ref()).into_owned())));
                }
                Event::Text(t) => text.push_str(&t.decode().map_err(|e| malformed(&e, reader.buffer_position()))?),
                Event::CData(t) => text.push_str(&String::from_utf8_lossy(&t)),
                Event::GeneralRef(r) => {
                    let name = r.decode().map_err(|e| malformed(&e, reader.buffer_position()))?;
                    let reference = format!("&{name};");
                    let resolved =
                        quick_xml::escape::unescape(&reference).map_err(|e| malformed(&e, reader.buffer_position()))?;
                    text.push_str(&resolved);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if depth != 0 {
            return Err(PolicyError::Malformed("the document ends inside an element".into()));
        }
        Ok(outline)
    }

    /// One string for comparison: whitespace runs collapsed everywhere.
    /// `<x></x>` is written `<x/>`, as `<x />` is.
    fn collapsed(&self) -> String {
        let mut out = String::new();
        let mut lines = self.lines.iter().map(|(_, line)| line).peekable();
        while let Some(line) = lines.next() {
            match line {
                Line::Start { name, attrs, empty } => {
                    out.push('<');
                    out.push_str(name);
                    for (k, v) in attrs {
                        out.push_str(&format!(" {k}=\"{}\"", collapse(v)));
                    }
                    let closed_at_once = !*empty && matches!(lines.peek(), Some(Line::End(end)) if end == name);
                    if closed_at_once {
                        lines.next();
                    }
                    out.push_str(if *empty || closed_at_once { "/>" } else { ">" });
                }
                Line::Text(t) => out.push_str(&collapse(t)),
                Line::End(name) => out.push_str(&format!("</{name}>")),
            }
        }
        out
    }

    /// The content for people: indented, an attribute per line, values line by line.
    fn readable(&self) -> String {
        let mut out = String::new();
        for (depth, line) in &self.lines {
            let indent = "  ".repeat(*depth);
            match line {
                Line::Start { name, attrs, empty } => {
                    out.push_str(&format!("{indent}<{name}\n"));
                    for (k, v) in attrs {
                        let mut lines = dedented(v).into_iter();
                        out.push_str(&format!("{indent}    {k}={}\n", lines.next().unwrap_or_default()));
                        for rest in lines {
                            out.push_str(&format!("{indent}        {rest}\n"));
                        }
                    }
                    out.push_str(&format!("{indent}{}\n", if *empty { "/>" } else { ">" }));
                }
                Line::Text(t) => {
                    for l in dedented(t) {
                        out.push_str(&format!("{indent}{l}\n"));
                    }
                }
                Line::End(name) => out.push_str(&format!("{indent}</{name}>\n")),
            }
        }
        out
    }
}

fn start(e: &BytesStart<'_>, empty: bool) -> Result<Line, quick_xml::Error> {
    let mut attrs = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(quick_xml::Error::InvalidAttr)?;
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        attrs.push((key, attr.unescape_value()?.into_owned()));
    }
    Ok(Line::Start { name: String::from_utf8_lossy(e.name().as_ref()).into_owned(), attrs, empty })
}

/// The non-blank lines of a value, the first trimmed, the rest keeping their indentation
/// relative to each other.
fn dedented(value: &str) -> Vec<&str> {
    let mut lines = value.lines().filter(|l| !l.trim().is_empty());
    let Some(first) = lines.next() else { return Vec::new() };
    let rest: Vec<&str> = lines.collect();
    let margin = rest.iter().map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    std::iter::once(first.trim()).chain(rest.iter().map(|l| l[margin..].trim_end())).collect()
}

fn collapse(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_comments_and_entities_are_not_drift() {
        let rendered = "<policies>\n    <!-- why -->\n    <inbound>\n        <base />\n        <set-variable name=\"x\" value='@{\n            return \"a\" + 1;\n        }' />\n    </inbound>\n</policies>\n";
        let deployed = "<policies><inbound><base/><set-variable name=\"x\" value=\"@{ return &quot;a&quot; + 1; }\"></set-variable></inbound></policies>";
        // An empty element written as start + end is the same element.
        let deployed = deployed.replace("></set-variable>", " />");
        assert_eq!(diff(&deployed, rendered).unwrap(), None);
    }

    #[test]
    fn a_changed_value_is_shown_as_a_unified_diff() {
        let rendered = "<policies><inbound><set-header name=\"a\"><value>1</value></set-header></inbound></policies>";
        let deployed = "<policies><inbound><set-header name=\"a\"><value>2</value></set-header></inbound></policies>";
        let d = diff(deployed, rendered).unwrap().expect("drift");
        assert!(d.starts_with("--- deployed\n+++ rendered\n"), "{d}");
        assert!(d.contains("\n-        2\n") && d.contains("\n+        1\n"), "{d}");
    }

    #[test]
    fn apims_own_serialization_is_equivalent() {
        let rendered = "<policies>\n    <inbound>\n        <base />\n        <set-variable name=\"x\" value='@{\n            return \"a\" + 1;\n        }' />\n    </inbound>\n</policies>\n";
        let stored = "<policies>\r\n\t<inbound>\r\n\t\t<base></base>\r\n\t\t<set-variable name=\"x\" value=\"@{&#xA;            return &quot;a&quot; + 1;&#xA;        }\" />\r\n\t</inbound>\r\n</policies>";
        assert!(equivalent(rendered, stored));
        assert_eq!(normalize(rendered).unwrap(), normalize(stored).unwrap());
        assert!(!equivalent(rendered, &stored.replace("+ 1", "+ 2")));
        assert!(!equivalent(rendered, "<policies>"), "malformed equals nothing");
    }

    #[test]
    fn malformed_documents_are_errors() {
        assert!(matches!(diff("<policies><inbound>", "<policies />"), Err(PolicyError::Malformed(_))));
        assert!(matches!(diff("<policies></inbound>", "<policies />"), Err(PolicyError::Malformed(_))));
    }
}
