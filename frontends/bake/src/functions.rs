//! The functions bake files may call: built-ins (go-cty's most used) and the file's own
//! `function` blocks (`params`, `variadic_params`, `result`), as buildx has them.
//!
//! hcl-rs calls functions through plain `fn` pointers, which cannot carry a function's body.
//! So the bodies of the current evaluation live in a thread-local table, and each user function
//! is declared with one of [`MAX_USER_FUNCTIONS`] trampolines that looks its body up by slot.
//! [`define`] fills the table for one evaluation and empties it when its guard drops.

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Expression, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// A `function "name" { params = [a, b] variadic_params = rest result = expr }` block.
#[derive(Debug, Clone)]
pub(crate) struct UserFunction {
    name: String,
    params: Vec<String>,
    variadic: Option<String>,
    result: Expression,
}

impl UserFunction {
    pub(crate) fn parse(block: &hcl::Block) -> Result<Self, String> {
        let [label] = block.labels() else {
            return Err("a function block needs exactly one name".into());
        };
        let name = label.as_str().to_string();
        let ident = |e: &Expression| match e {
            Expression::Variable(v) => Ok(v.to_string()),
            other => Err(format!(
                "function {name:?}: a parameter is a name, not {other}"
            )),
        };
        let mut f = UserFunction {
            name: name.clone(),
            params: Vec::new(),
            variadic: None,
            result: Expression::Null,
        };
        let mut has_result = false;
        for attr in block.body().attributes() {
            match (attr.key(), attr.expr()) {
                ("params", Expression::Array(items)) => {
                    f.params = items.iter().map(ident).collect::<Result<_, _>>()?
                }
                ("variadic_params", e) => f.variadic = Some(ident(e)?),
                ("result", e) => {
                    f.result = e.clone();
                    has_result = true;
                }
                (k, _) => return Err(format!("function {name:?}: unexpected {k}")),
            }
        }
        if !has_result {
            return Err(format!("function {name:?} has no result"));
        }
        Ok(f)
    }
}

/// How many functions one set of bake files may define.
pub(crate) const MAX_USER_FUNCTIONS: usize = 32;

/// How deep user functions may call each other (a recursive one is an error, not a crash).
const MAX_DEPTH: usize = 64;

thread_local! {
    static USER: RefCell<Vec<UserFunction>> = const { RefCell::new(Vec::new()) };
    static GLOBALS: RefCell<BTreeMap<String, Value>> = const { RefCell::new(BTreeMap::new()) };
    static DEPTH: RefCell<usize> = const { RefCell::new(0) };
}

/// Empties the table when the evaluation ends.
pub(crate) struct Defined;

impl Drop for Defined {
    fn drop(&mut self) {
        USER.with(|u| u.borrow_mut().clear());
        GLOBALS.with(|g| g.borrow_mut().clear());
    }
}

/// Make `functions` callable in every [`context`] until the guard drops.
pub(crate) fn define(functions: Vec<UserFunction>) -> Result<Defined, String> {
    if functions.len() > MAX_USER_FUNCTIONS {
        return Err(format!(
            "at most {MAX_USER_FUNCTIONS} functions can be defined"
        ));
    }
    USER.with(|u| *u.borrow_mut() = functions);
    Ok(Defined)
}

/// A context with `vars`, the built-ins and the defined functions.
pub(crate) fn context(vars: &BTreeMap<String, Value>) -> Context<'static> {
    GLOBALS.with(|g| *g.borrow_mut() = vars.clone());
    let mut ctx = Context::new();
    for (k, v) in vars {
        ctx.declare_var(k.as_str(), v.clone());
    }
    declare_builtins(&mut ctx);
    USER.with(|u| {
        for (slot, f) in u.borrow().iter().enumerate() {
            if let Some(t) = TRAMPOLINES.get(slot) {
                ctx.declare_func(
                    f.name.as_str(),
                    FuncDef::builder().variadic_param(ParamType::Any).build(*t),
                );
            }
        }
    });
    ctx
}

/// The largest value (string bytes, counted through lists and maps) an evaluation may make:
/// far above any real tag or argument list, far below memory. A variable or function that
/// doubles a string forty times is an error, not an exhausted machine.
pub(crate) const MAX_VALUE: usize = 1 << 20;

/// Refuse a value larger than [`MAX_VALUE`].
pub(crate) fn check_size(v: &Value) -> Result<(), String> {
    fn size(v: &Value, budget: usize) -> usize {
        match v {
            Value::String(s) => s.len(),
            Value::Array(items) => {
                let mut n = 0;
                for i in items {
                    n += size(i, budget) + 1;
                    if n > budget {
                        break;
                    }
                }
                n
            }
            Value::Object(m) => {
                let mut n = 0;
                for (k, i) in m {
                    n += k.len() + size(i, budget) + 1;
                    if n > budget {
                        break;
                    }
                }
                n
            }
            _ => 8,
        }
    }
    if size(v, MAX_VALUE) > MAX_VALUE {
        return Err(format!("a value larger than {MAX_VALUE} bytes"));
    }
    Ok(())
}

/// Call the user function in `slot` with `args`.
fn call(slot: usize, args: FuncArgs) -> Result<Value, String> {
    let f = USER
        .with(|u| u.borrow().get(slot).cloned())
        .ok_or("no such function")?;
    let given: Vec<Value> = args.iter().cloned().collect();
    for v in &given {
        check_size(v).map_err(|e| format!("{}: {e}", f.name))?;
    }
    if given.len() < f.params.len() || (f.variadic.is_none() && given.len() > f.params.len()) {
        return Err(format!(
            "{} takes {} argument(s), {} given",
            f.name,
            f.params.len(),
            given.len()
        ));
    }
    let depth = DEPTH.with(|d| {
        let mut d = d.borrow_mut();
        *d += 1;
        *d
    });
    let out = if depth > MAX_DEPTH {
        Err(format!("{} calls itself too deeply", f.name))
    } else {
        let globals = GLOBALS.with(|g| g.borrow().clone());
        let mut ctx = context(&globals);
        for (p, v) in f.params.iter().zip(&given) {
            ctx.declare_var(p.as_str(), v.clone());
        }
        if let Some(rest) = &f.variadic {
            let extra = given.get(f.params.len()..).unwrap_or_default().to_vec();
            ctx.declare_var(rest.as_str(), Value::Array(extra));
        }
        let r = f
            .result
            .evaluate(&ctx)
            .map_err(|e| format!("{}: {e}", f.name))
            .and_then(|v| {
                check_size(&v)
                    .map(|()| v)
                    .map_err(|e| format!("{}: {e}", f.name))
            });
        GLOBALS.with(|g| *g.borrow_mut() = globals);
        r
    };
    DEPTH.with(|d| *d.borrow_mut() -= 1);
    out
}

macro_rules! trampolines {
    ($($slot:literal => $name:ident),* $(,)?) => {
        $(fn $name(args: FuncArgs) -> Result<Value, String> { call($slot, args) })*
        const TRAMPOLINES: [hcl::eval::Func; MAX_USER_FUNCTIONS] = [$($name),*];
    };
}

trampolines!(
    0 => t0, 1 => t1, 2 => t2, 3 => t3, 4 => t4, 5 => t5, 6 => t6, 7 => t7,
    8 => t8, 9 => t9, 10 => t10, 11 => t11, 12 => t12, 13 => t13, 14 => t14, 15 => t15,
    16 => t16, 17 => t17, 18 => t18, 19 => t19, 20 => t20, 21 => t21, 22 => t22, 23 => t23,
    24 => t24, 25 => t25, 26 => t26, 27 => t27, 28 => t28, 29 => t29, 30 => t30, 31 => t31,
);

/// The built-in functions: go-cty's that bake files use most.
fn declare_builtins(ctx: &mut Context<'static>) {
    let s = ParamType::String;
    let any = ParamType::Any;
    let funcs: Vec<(&str, FuncDef)> = vec![
        (
            "equal",
            FuncDef::builder()
                .params([any.clone(), any.clone()])
                .build(|a| Ok(Value::Bool(a[0] == a[1]))),
        ),
        (
            "notequal",
            FuncDef::builder()
                .params([any.clone(), any.clone()])
                .build(|a| Ok(Value::Bool(a[0] != a[1]))),
        ),
        (
            "and",
            FuncDef::builder()
                .variadic_param(ParamType::Bool)
                .build(|a| Ok(Value::Bool(a.iter().all(|v| v.as_bool() == Some(true))))),
        ),
        (
            "or",
            FuncDef::builder()
                .variadic_param(ParamType::Bool)
                .build(|a| Ok(Value::Bool(a.iter().any(|v| v.as_bool() == Some(true))))),
        ),
        (
            "not",
            FuncDef::builder()
                .param(ParamType::Bool)
                .build(|a| Ok(Value::Bool(a[0].as_bool() != Some(true)))),
        ),
        (
            "lower",
            FuncDef::builder()
                .param(s.clone())
                .build(|a| Ok(Value::String(arg_str(&a, 0).to_lowercase()))),
        ),
        (
            "upper",
            FuncDef::builder()
                .param(s.clone())
                .build(|a| Ok(Value::String(arg_str(&a, 0).to_uppercase()))),
        ),
        (
            "trimspace",
            FuncDef::builder()
                .param(s.clone())
                .build(|a| Ok(Value::String(arg_str(&a, 0).trim().to_string()))),
        ),
        (
            "trimprefix",
            FuncDef::builder()
                .params([s.clone(), s.clone()])
                .build(|a| {
                    let (x, p) = (arg_str(&a, 0), arg_str(&a, 1));
                    Ok(Value::String(
                        x.strip_prefix(p.as_str()).unwrap_or(&x).to_string(),
                    ))
                }),
        ),
        (
            "trimsuffix",
            FuncDef::builder()
                .params([s.clone(), s.clone()])
                .build(|a| {
                    let (x, p) = (arg_str(&a, 0), arg_str(&a, 1));
                    Ok(Value::String(
                        x.strip_suffix(p.as_str()).unwrap_or(&x).to_string(),
                    ))
                }),
        ),
        (
            "replace",
            FuncDef::builder()
                .params([s.clone(), s.clone(), s.clone()])
                .build(|a| {
                    Ok(Value::String(
                        arg_str(&a, 0).replace(&arg_str(&a, 1), &arg_str(&a, 2)),
                    ))
                }),
        ),
        (
            "join",
            FuncDef::builder()
                .params([s.clone(), ParamType::Array(Box::new(any.clone()))])
                .build(|a| {
                    let sep = arg_str(&a, 0);
                    let items: Vec<String> = a[1]
                        .as_array()
                        .map(|v| {
                            v.iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    Ok(Value::String(items.join(&sep)))
                }),
        ),
        (
            "split",
            FuncDef::builder()
                .params([s.clone(), s.clone()])
                .build(|a| {
                    let (sep, x) = (arg_str(&a, 0), arg_str(&a, 1));
                    Ok(Value::Array(
                        x.split(sep.as_str())
                            .map(|p| Value::String(p.to_string()))
                            .collect(),
                    ))
                }),
        ),
        (
            "coalesce",
            FuncDef::builder().variadic_param(any.clone()).build(|a| {
                Ok(a.iter()
                    .find(|v| !v.is_null() && v.as_str() != Some(""))
                    .cloned()
                    .unwrap_or(Value::Null))
            }),
        ),
        (
            "length",
            FuncDef::builder().param(any).build(|a| {
                let n = match &a[0] {
                    Value::Array(v) => v.len(),
                    Value::Object(m) => m.len(),
                    Value::String(s) => s.chars().count(),
                    other => return Err(format!("length of {other}")),
                };
                Ok(Value::from(n as u64))
            }),
        ),
        (
            "substr",
            FuncDef::builder()
                .params([s, ParamType::Number, ParamType::Number])
                .build(|a| {
                    let x = arg_str(&a, 0);
                    let off = a[1].as_i64().unwrap_or(0).max(0) as usize;
                    let len = a[2].as_i64().unwrap_or(-1);
                    let chars = x.chars().skip(off);
                    Ok(Value::String(if len < 0 {
                        chars.collect()
                    } else {
                        chars.take(len as usize).collect()
                    }))
                }),
        ),
    ];
    for (name, f) in funcs {
        ctx.declare_func(name, f);
    }
}

fn arg_str(a: &FuncArgs, i: usize) -> String {
    a.get(i)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}
