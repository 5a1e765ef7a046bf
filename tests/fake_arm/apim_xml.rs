//! Policies as APIM stores and returns them. APIM parses a pushed policy and keeps its own
//! serialization (a .NET `XmlWriter`), so a GET never returns the bytes that were sent:
//!
//! - indentation with tabs, `\r\n` line ends, one element per line;
//! - every attribute in double quotes: a `"` inside becomes `&quot;`, `<`/`>`/`&` are
//!   entities, and line breaks inside an attribute become `&#xA;` / `&#xD;` (XmlWriter's
//!   `NewLineHandling.Replace`) — which is why a policy with multi-line expressions never
//!   compares equal byte for byte;
//! - text escaped (`&lt;`, `&gt;`, `&amp;`), its line breaks written as `\r\n`;
//! - empty elements as `<name />`; comments kept.
//!
//! With `?format=rawxml` the same document comes back without XML encoding: expressions as
//! written, `<` and `"` raw inside attributes — not well-formed XML.
//!
//! Sources: the APIM REST reference (PolicyContentFormat / PolicyExportFormat: `xml` "an
//! XML document", `rawxml` "a non XML encoded policy document"), and the perpetual diff users
//! of Terraform's azurerm provider report on `azurerm_api_management_api_policy`
//! (`xml_content` read back reformatted, hence the provider's XML normalization).

use quick_xml::events::{BytesStart, Event};

/// One parsed node: enough to re-serialize a policy document.
enum Node {
    Element { name: String, attrs: Vec<(String, String)>, children: Vec<Node> },
    Text(String),
    Comment(String),
}

fn parse(xml: &str) -> Result<Node, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Node> = vec![Node::Element { name: String::new(), attrs: Vec::new(), children: Vec::new() }];
    let push = |stack: &mut Vec<Node>, node: Node| {
        if let Some(Node::Element { children, .. }) = stack.last_mut() {
            if let (Node::Text(t), Some(Node::Text(last))) = (&node, children.last_mut()) {
                last.push_str(t);
                return;
            }
            children.push(node);
        }
    };
    loop {
        match reader.read_event().map_err(|e| format!("at {}: {e}", reader.buffer_position()))? {
            Event::Start(e) => stack.push(element(&e)?),
            Event::Empty(e) => {
                let node = element(&e)?;
                push(&mut stack, node);
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("unbalanced end")?;
                push(&mut stack, node);
            }
            Event::Text(t) => push(&mut stack, Node::Text(t.decode().map_err(|e| e.to_string())?.into_owned())),
            Event::GeneralRef(r) => {
                let reference = format!("&{};", r.decode().map_err(|e| e.to_string())?);
                let text = quick_xml::escape::unescape(&reference).map_err(|e| e.to_string())?.into_owned();
                push(&mut stack, Node::Text(text));
            }
            Event::CData(t) => push(&mut stack, Node::Text(String::from_utf8_lossy(&t).into_owned())),
            Event::Comment(c) => push(&mut stack, Node::Comment(String::from_utf8_lossy(&c).into_owned())),
            Event::Eof => break,
            _ => {}
        }
    }
    if stack.len() != 1 {
        return Err("the document ends inside an element".into());
    }
    let Some(Node::Element { children, .. }) = stack.pop() else { unreachable!() };
    children.into_iter().find(|n| matches!(n, Node::Element { .. })).ok_or_else(|| "no root element".into())
}

fn element(e: &BytesStart<'_>) -> Result<Node, String> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let value = a.unescape_value().map_err(|e| e.to_string())?.into_owned();
        attrs.push((String::from_utf8_lossy(a.key.as_ref()).into_owned(), value));
    }
    Ok(Node::Element { name: String::from_utf8_lossy(e.name().as_ref()).into_owned(), attrs, children: Vec::new() })
}

/// How values are written: XML-encoded (the stored form) or raw (`format=rawxml`).
#[derive(Clone, Copy)]
enum Encoding {
    Xml,
    Raw,
}

fn attr_value(v: &str, encoding: Encoding) -> String {
    match encoding {
        Encoding::Raw => v.to_string(),
        Encoding::Xml => v
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\r', "&#xD;")
            .replace('\n', "&#xA;")
            .replace('\t', "&#x9;"),
    }
}

fn text_value(v: &str, encoding: Encoding) -> String {
    let escaped = match encoding {
        Encoding::Raw => v.to_string(),
        Encoding::Xml => v.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"),
    };
    escaped.replace("\r\n", "\n").replace('\n', "\r\n")
}

fn write(node: &Node, depth: usize, encoding: Encoding, out: &mut String) {
    let indent = "\t".repeat(depth);
    match node {
        Node::Comment(c) => out.push_str(&format!("{indent}<!--{c}-->\r\n")),
        Node::Text(t) => {
            if !t.trim().is_empty() {
                out.push_str(&format!("{indent}{}\r\n", text_value(t.trim(), encoding)));
            }
        }
        Node::Element { name, attrs, children } => {
            out.push_str(&format!("{indent}<{name}"));
            for (k, v) in attrs {
                out.push_str(&format!(" {k}=\"{}\"", attr_value(v, encoding)));
            }
            let meaningful: Vec<&Node> =
                children.iter().filter(|c| !matches!(c, Node::Text(t) if t.trim().is_empty())).collect();
            match meaningful.as_slice() {
                [] => out.push_str(" />\r\n"),
                [Node::Text(t)] => out.push_str(&format!(">{}</{name}>\r\n", text_value(t, encoding))),
                _ => {
                    out.push_str(">\r\n");
                    for child in meaningful {
                        write(child, depth + 1, encoding, out);
                    }
                    out.push_str(&format!("{indent}</{name}>\r\n"));
                }
            }
        }
    }
}

fn serialize(xml: &str, encoding: Encoding) -> Result<String, String> {
    let root = parse(xml)?;
    let mut out = String::new();
    write(&root, 0, encoding, &mut out);
    Ok(out.trim_end().to_string())
}

/// The form APIM stores a policy pushed with `format: xml` in, and returns from a GET.
pub fn stored(xml: &str) -> Result<String, String> {
    serialize(xml, Encoding::Xml)
}

/// The stored policy as `GET …?format=rawxml` returns it: not XML-encoded.
pub fn raw(stored: &str) -> String {
    serialize(stored, Encoding::Raw).unwrap_or_else(|_| stored.to_string())
}
