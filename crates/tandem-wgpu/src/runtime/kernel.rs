//! Kernel sources and their specialisation: a generated type header plus a tiny preprocessor.
//!
//! Each `kernels/wgsl/<op>.wgsl` is written against type aliases (`T` for the float storage
//! type, `E` for an element of any dtype, …) and a rounding function `to_T(x: f32) -> T` per
//! float alias. A [`KernelSpec`] says what each alias is for one dtype; the header that defines
//! them is prepended here. Lines `//#if FLAG`, `//#else`, `//#endif` select code that would not
//! type-check for every specialisation (e.g. a binding declared as `array<vec4<T>>` for vec4
//! loads vs `array<T>`); numeric choices use WGSL `override` constants instead. A line
//! `//#include <name>` pastes a helper file of `tandem_kernels::wgsl::INCLUDES` (e.g. the
//! workgroup reductions shared by the row kernels), preprocessed with the same flags.

use std::fmt::Write;

/// Helpers shared by every kernel (index arithmetic, NaN tests, activation math).
const COMMON: &str = tandem_kernels::wgsl::COMMON;

/// How one dtype is held in a device buffer (see the crate docs for the dtype story).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Repr {
    F32,
    /// Native `f16` storage (adapter has `shader-f16`).
    F16,
    /// `f16` widened to f32 on upload, rounded to f16 on every kernel store.
    F16InF32,
    /// `bf16` widened to f32 on upload (exact), rounded to bf16 on every kernel store.
    Bf16InF32,
    U32,
    /// Little-endian `vec2<u32>` (low word, high word).
    I64,
}

impl Repr {
    pub fn bytes(self) -> usize {
        match self {
            Repr::F16 => 2,
            Repr::I64 => 8,
            _ => 4,
        }
    }
    pub fn wgsl(self) -> &'static str {
        match self {
            Repr::F32 | Repr::F16InF32 | Repr::Bf16InF32 => "f32",
            Repr::F16 => "f16",
            Repr::U32 => "u32",
            Repr::I64 => "vec2<u32>",
        }
    }
    pub fn is_float(self) -> bool {
        !matches!(self, Repr::U32 | Repr::I64)
    }
    /// The storage element, ignoring what the values mean (copies and concat use this so one
    /// pipeline serves every 32-bit dtype).
    pub fn raw(self) -> Repr {
        match self {
            Repr::F16 => Repr::F16,
            Repr::I64 => Repr::I64,
            _ => Repr::U32,
        }
    }
    fn rounding(self) -> &'static str {
        match self {
            Repr::F32 => "x",
            Repr::F16 => "f16(x)",
            Repr::F16InF32 => "unpack2x16float(pack2x16float(vec2<f32>(x, 0.0))).x",
            // Round to nearest even on the top 16 bits; NaN stays NaN (quietened).
            Repr::Bf16InF32 => {
                "select(bitcast<f32>((bitcast<u32>(x) + 0x7fffu + ((bitcast<u32>(x) >> 16u) & 1u)) & 0xffff0000u), \
                 bitcast<f32>(bitcast<u32>(x) | 0x00400000u), (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u)"
            }
            Repr::U32 | Repr::I64 => "",
        }
    }
}

/// Everything that makes one compiled pipeline: kernel file, type aliases, flags, constants.
pub struct KernelSpec<'a> {
    /// Op name: the file `kernels/wgsl/<name>.wgsl`.
    pub name: &'static str,
    /// Entry point: the op name, except where WGSL reserves it (`cast` → `cast_elements`).
    pub entry: &'static str,
    pub source: &'static str,
    pub types: &'a [(&'static str, Repr)],
    pub flags: &'a [&'static str],
    pub constants: &'a [(&'static str, f64)],
    /// Bindings: 0 is the uniform params; `1..=inputs` read-only storage; then `outputs`
    /// read-write storage.
    pub inputs: u32,
    pub outputs: u32,
}

impl KernelSpec<'_> {
    /// Cache key: identical keys compile to identical pipelines.
    pub fn key(&self) -> String {
        let mut k = String::from(self.name);
        for (alias, r) in self.types {
            let _ = write!(k, "|{alias}={r:?}");
        }
        for f in self.flags {
            let _ = write!(k, "|{f}");
        }
        for (c, v) in self.constants {
            let _ = write!(k, "|{c}={v}");
        }
        k
    }

    /// The full WGSL text: generated header, then the preprocessed kernel.
    pub fn source(&self) -> String {
        let mut out = String::new();
        if self.types.iter().any(|(_, r)| *r == Repr::F16) {
            out.push_str("enable f16;\n");
        }
        for (alias, r) in self.types {
            let _ = writeln!(out, "alias {alias} = {};", r.wgsl());
            if r.is_float() {
                let _ = writeln!(
                    out,
                    "fn to_{alias}(x: f32) -> {alias} {{ return {}; }}",
                    r.rounding()
                );
            }
        }
        out.push_str(&preprocess(COMMON, self.flags));
        out.push_str(&preprocess(self.source, self.flags));
        out
    }
}

/// Keeps the lines whose enclosing `//#if` conditions hold for `flags`, and replaces each
/// active line `//#include <name>` by the preprocessed include `tandem_kernels::wgsl::include`
/// names (an unknown name is left as the comment it is, and the shader then fails to compile
/// naming the missing helper; `tandem-kernels` tests that every include resolves).
pub fn preprocess(src: &str, flags: &[&str]) -> String {
    let mut out = String::with_capacity(src.len());
    // Each level: (this branch active, some branch of this level was taken).
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let active = |s: &[(bool, bool)]| s.iter().all(|l| l.0);
    for line in src.lines() {
        let t = line.trim_start();
        if let Some(cond) = t.strip_prefix("//#if ") {
            let (neg, name) = match cond.trim().strip_prefix('!') {
                Some(n) => (true, n.trim()),
                None => (false, cond.trim()),
            };
            let on = flags.contains(&name) != neg;
            stack.push((on, on));
        } else if t.starts_with("//#else") {
            if let Some(top) = stack.last_mut() {
                top.0 = !top.1;
                top.1 = true;
            }
        } else if t.starts_with("//#endif") {
            stack.pop();
        } else if let Some(included) = t
            .strip_prefix("//#include ")
            .filter(|_| active(&stack))
            .and_then(|name| tandem_kernels::wgsl::include(name.trim()))
        {
            out.push_str(&preprocess(included, flags));
        } else if active(&stack) {
            out.push_str(line);
            out.push('\n');
        }
        if !active(&stack) || t.starts_with("//#") {
            // Keep line numbers stable for compiler messages.
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preprocessor_selects_branches() {
        let src = "a\n//#if X\nb\n//#else\nc\n//#endif\n//#if !X\nd\n//#endif\ne\n";
        let on: Vec<String> = preprocess(src, &["X"])
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        assert_eq!(on, ["a", "b", "e"]);
        let off: Vec<String> = preprocess(src, &[])
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        assert_eq!(off, ["a", "c", "d", "e"]);
    }

    #[test]
    fn preprocessor_pastes_includes_in_active_branches_only() {
        let src = "a\n//#include workgroup_reduce\nb\n";
        let out = preprocess(src, &[]);
        assert!(out.contains("fn workgroup_reduce("), "{out}");
        assert!(
            !out.lines()
                .any(|l| l.trim_start().starts_with("//#include")),
            "{out}"
        );
        let off = preprocess("//#if X\n//#include workgroup_reduce\n//#endif\n", &[]);
        assert!(!off.contains("fn workgroup_reduce("), "{off}");
        let unknown = preprocess("//#include no_such_helper\n", &[]);
        assert!(unknown.contains("//#include no_such_helper"), "{unknown}");
    }

    #[test]
    fn header_declares_aliases_and_rounding() {
        let spec = KernelSpec {
            name: "k",
            entry: "k",
            source: "",
            types: &[("T", Repr::F16), ("I", Repr::I64)],
            flags: &[],
            constants: &[],
            inputs: 1,
            outputs: 1,
        };
        let s = spec.source();
        assert!(s.starts_with("enable f16;"));
        assert!(s.contains("alias T = f16;") && s.contains("fn to_T(x: f32) -> T"));
        assert!(s.contains("alias I = vec2<u32>;") && !s.contains("fn to_I"));
    }
}
