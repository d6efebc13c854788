//! Printing the graph: indented text and Graphviz dot.

use std::fmt::Write as _;

use crate::graph::{Graph, StepKind};

/// `a::b::Foo<c::Bar>` → `Foo<Bar>`: full paths make graphs unreadable.
pub(crate) fn short_type(name: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    for ch in name.chars() {
        if ch.is_alphanumeric() || ch == '_' || ch == ':' {
            word.push(ch);
        } else {
            out.push_str(word.rsplit("::").next().unwrap_or(&word));
            word.clear();
            out.push(ch);
        }
    }
    out.push_str(word.rsplit("::").next().unwrap_or(&word));
    out
}

fn kind_label(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Source => "Source",
        StepKind::ParDo => "ParDo",
        StepKind::Flatten => "Flatten",
        StepKind::GroupByKey => "GroupByKey",
        StepKind::CoGroupByKey => "CoGroupByKey",
        StepKind::Sink => "Sink",
    }
}

/// One line per step: `Name [Kind] <- Input.port: Type, ...` followed by its outputs.
pub(crate) fn to_text(g: &Graph) -> String {
    let mut s = String::new();
    for step in &g.steps {
        let _ = write!(s, "{} [{}", step.name, kind_label(step.kind));
        if let Some(p) = step.parallelism {
            let _ = write!(s, " x{p}");
        }
        s.push(']');
        let inputs: Vec<String> = step
            .inputs
            .iter()
            .filter_map(|&c| g.collections.get(c))
            .map(|c| format!("{}.{}", g.steps[c.producer].name, c.port_name))
            .collect();
        if !inputs.is_empty() {
            let _ = write!(s, " <- {}", inputs.join(", "));
        }
        s.push('\n');
        for &c in &step.outputs {
            let col = &g.collections[c];
            let _ = writeln!(
                s,
                "    -> {}: {}{}",
                col.port_name,
                short_type(col.type_name),
                if col.bounded { "" } else { " (unbounded)" }
            );
        }
    }
    s
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Graphviz: steps are boxes (sources and sinks ellipses), edges are labelled with the output
/// port (when not `main`) and the element type.
pub(crate) fn to_dot(g: &Graph) -> String {
    let mut s = String::from("digraph pipeline {\n    rankdir=TB;\n    node [shape=box];\n");
    for (i, step) in g.steps.iter().enumerate() {
        let shape = match step.kind {
            StepKind::Source | StepKind::Sink => "ellipse",
            StepKind::GroupByKey | StepKind::CoGroupByKey => "hexagon",
            _ => "box",
        };
        let _ = writeln!(
            s,
            "    s{i} [label=\"{}\\n[{}]\", shape={shape}];",
            escape(&step.name),
            kind_label(step.kind)
        );
    }
    for (i, step) in g.steps.iter().enumerate() {
        for &c in &step.inputs {
            let Some(col) = g.collections.get(c) else {
                continue;
            };
            let port = if col.port_name == "main" {
                String::new()
            } else {
                format!("{}: ", col.port_name)
            };
            let _ = writeln!(
                s,
                "    s{} -> s{i} [label=\"{}{}\"];",
                col.producer,
                escape(&port),
                escape(&short_type(col.type_name))
            );
        }
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::short_type;

    #[test]
    fn strips_module_paths() {
        assert_eq!(
            short_type("(alloc::string::String, alloc::vec::Vec<u8>)"),
            "(String, Vec<u8>)"
        );
    }
}
