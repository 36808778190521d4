//! The shape of a component's core code, which sets what a fresh instance
//! costs before the operator runs: how many core modules are instantiated,
//! how many function imports are wired between them, and how much of the
//! indirect-call table and of memory sits at offsets known only at
//! instantiation. Dynamically linked libraries (componentize-py's CPython,
//! for one) place their table entries and data at imported bases, so
//! wasmtime writes those table entries for every task instead of lazily and
//! copies that data instead of mapping it copy-on-write.

use wasmtime::wasmparser::{BinaryReaderError, ConstExpr, DataKind, ElementItems, ElementKind, Operator, Parser, Payload, TypeRef};

/// Function imports plus eagerly written table entries above which a fresh
/// instance costs hundreds of microseconds rather than a few (measured on
/// the 2-core development machine: componentize-py's CPython has 7,171 and
/// takes ≈ 0.29 ms per task; componentize-qjs's QuickJS 965 and ≈ 0.07 ms;
/// a Rust operator a handful and ≈ 8 µs).
pub const HEAVY_LINKING: usize = 2_000;

/// Counts over every core module of a component.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    pub core_modules: usize,
    pub defined_functions: usize,
    /// Function imports of core modules (from the host or other modules),
    /// each resolved when an instance is created.
    pub function_imports: usize,
    /// Table entries written when an instance is created: their segment's
    /// offset is an imported global, or their table is imported.
    pub eager_table_entries: usize,
    /// Table entries at constant offsets into the module's own table, which
    /// wasmtime fills in lazily on first use.
    pub lazy_table_entries: usize,
    /// Bytes of data mapped copy-on-write (constant offsets into the
    /// module's own memory).
    pub mapped_data_bytes: usize,
    /// Bytes of data copied into every instance (imported memory or an
    /// offset from an imported global).
    pub copied_data_bytes: usize,
}

impl Shape {
    /// Whether creating an instance is dominated by dynamic linking.
    pub fn is_heavy(&self) -> bool {
        self.function_imports + self.eager_table_entries > HEAVY_LINKING
    }
}

/// Count `bytes`' core modules (nested at any depth in the component).
pub fn shape(bytes: &[u8]) -> Result<Shape, BinaryReaderError> {
    let mut total = Shape::default();
    // Per module being read: (imports its table, imports its memory).
    let mut imported: Vec<(bool, bool)> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::ModuleSection { .. } => {
                total.core_modules += 1;
                imported.push((false, false));
            }
            Payload::ImportSection(reader) => {
                let Some(module) = imported.last_mut() else { continue };
                for import in reader.into_imports() {
                    match import?.ty {
                        TypeRef::Func(_) => total.function_imports += 1,
                        TypeRef::Table(_) => module.0 = true,
                        TypeRef::Memory(_) => module.1 = true,
                        _ => {}
                    }
                }
            }
            Payload::FunctionSection(reader) => total.defined_functions += reader.count() as usize,
            Payload::ElementSection(reader) => {
                let table_imported = imported.last().is_some_and(|m| m.0);
                for element in reader {
                    let element = element?;
                    let ElementKind::Active { offset_expr, .. } = element.kind else { continue };
                    let entries = match element.items {
                        ElementItems::Functions(f) => f.count() as usize,
                        ElementItems::Expressions(_, e) => e.count() as usize,
                    };
                    if table_imported || !is_constant(&offset_expr) {
                        total.eager_table_entries += entries;
                    } else {
                        total.lazy_table_entries += entries;
                    }
                }
            }
            Payload::DataSection(reader) => {
                let memory_imported = imported.last().is_some_and(|m| m.1);
                for data in reader {
                    let data = data?;
                    let DataKind::Active { offset_expr, .. } = data.kind else { continue };
                    if memory_imported || !is_constant(&offset_expr) {
                        total.copied_data_bytes += data.data.len();
                    } else {
                        total.mapped_data_bytes += data.data.len();
                    }
                }
            }
            // The end of a core module (a component's own end pops nothing).
            Payload::End(_) => {
                imported.pop();
            }
            _ => {}
        }
    }
    Ok(total)
}

fn is_constant(offset: &ConstExpr) -> bool {
    let mut ops = offset.get_operators_reader();
    matches!(ops.read(), Ok(Operator::I32Const { .. } | Operator::I64Const { .. })) && matches!(ops.read(), Ok(Operator::End))
}
