//! The `#[managed]` attribute: puts a type in a manager (Python's `BaseManager.register` of a
//! class) by generating, from its `impl` block, the dispatch table the manager's server calls
//! and a typed proxy whose methods mirror the type's.
//!
//! Use it through `multiprocessing_managers::managed` (or `multiprocessing::managers::managed`):
//! the generated code names that crate, found in the calling crate's `Cargo.toml`.
//!
//! ```
//! use multiprocessing_managers::{BaseManager, ErrorKind, managed};
//!
//! /// Python's `MathsClass`, with a memory.
//! #[derive(Default, serde::Serialize)]
//! struct Maths {
//!     calls: u32,
//! }
//!
//! #[managed]
//! impl Maths {
//!     #[constructor]
//!     fn new() -> Self {
//!         Maths::default()
//!     }
//!
//!     /// `x + y`.
//!     pub fn add(&mut self, x: i64, y: i64) -> i64 {
//!         self.calls += 1;
//!         x + y
//!     }
//!
//!     /// `x / y`, or an error for `y == 0`.
//!     pub fn div(&mut self, x: i64, y: i64) -> Result<i64, String> {
//!         self.calls += 1;
//!         x.checked_div(y).ok_or_else(|| format!("{x} / 0"))
//!     }
//!
//!     /// Not exposed by default: its name starts with `_`.
//!     pub fn _reset(&mut self) {
//!         self.calls = 0;
//!     }
//! }
//!
//! let manager = BaseManager::builder().register_type::<Maths>("Maths").start().unwrap();
//! let maths: MathsProxy = manager.create_as("Maths", Vec::new()).unwrap();
//! assert_eq!(maths.add(4, 3).unwrap(), 7);
//! let e = maths.div(1, 0).unwrap_err(); // the method's `Err`, raised in the caller
//! assert_eq!(e.to_string(), "RuntimeError: 1 / 0");
//! assert_eq!(e.kind(), ErrorKind::Remote);
//! assert_eq!(maths.to_string(), "{'calls': 2}"); // the value, as serde sees it
//! ```
//!
//! # What it generates
//!
//! For `#[managed] impl Foo { .. }` (an inherent, non-generic `impl` block; one per type):
//!
//! * `impl Shared for Foo`: `call` dispatches by name to every method with a `&self` or
//!   `&mut self` receiver, private and `_`-prefixed ones included (a registration may expose
//!   them, as Python's `exposed=('g', '_h')` does). Arguments are decoded from `Object`s with the
//!   serde bridge; a wrong count or shape is a `TypeError` naming the method and the argument.
//!   A method returning `()` answers None, one returning `R: Serialize` its value, one returning
//!   `Result<R, E>` its `Ok`, or raises its `Err` as a `RuntimeError` with `E`'s message (an
//!   `Err` that is a `Raised` is raised as it is). An unknown name is an `AttributeError`
//!   naming it. `exposed()` is Python's default list: the `pub` methods whose names do not
//!   start with `_`, and any marked `#[exposed]`. `value()` is the serde form when
//!   `Foo: Serialize`, else `<Foo object>`. Every client can read it (a proxy's
//!   `get_value`, `repr`, `Display`) whatever the exposed list says, as in Python: a type
//!   whose state should stay private is not `Serialize`, or skips those fields
//!   (`#[serde(skip)]`).
//! * `impl Construct for Foo`, when one associated function is marked `#[constructor]`
//!   (returning `Self` or `Result<Self, E>`), so `register_type::<Foo>("Foo")` can make it.
//! * `impl Managed for Foo` and the proxy `FooProxy`: a thin view over a `Proxy` (`Clone`,
//!   `Debug`, `Display` showing the referent, `Deref<Target = Proxy>`, serde, `ProxyType`), with
//!   one method per dispatched method: the same name, visibility and argument types, returning
//!   `multiprocessing_managers::Result<R>`.
//!
//! # Attributes
//!
//! On the block: `#[managed(proxy = Name)]` names the proxy; `#[managed(crate = path)]` names
//! the runtime crate (when it is reached by another path). On methods:
//!
//! * `#[exposed]`: in the default exposed list even though not `pub` or named `_...`.
//! * `#[skip]`: left out of the dispatch and the proxy (any signature is allowed then).
//! * `#[returns_proxy(typeid = "Bar")]` (Python's `method_to_typeid`): the method returns a
//!   `#[managed]` type (or `Result` of one); the caller gets a proxy to a new shared object of
//!   typeid `Bar` instead of a copy, and the proxy method returns `Result<BarProxy>`.
//! * `#[constructor]`: the associated function a manager makes the value with.
//!
//! Arguments that are references (`&str`, `&[T]`, `&T`) are decoded into owned values in the
//! server (`String`, `Vec<T>`, `T`) and lent to the method. A signature that cannot cross
//! processes is a compile error naming the method: generic methods, `impl Trait` or `&mut`
//! arguments, other borrows inside an argument's type, `self` by value, argument patterns other
//! than names, returned references, `async` or `unsafe` methods.
//!
//! The server runs one call at a time, so a method cannot use a proxy (one to its own manager
//! would wait for the server running it): while a method or the constructor runs, a proxy's
//! call fails at once, and a proxy argument is a `TypeError`.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    Attribute, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, LitStr, Pat, Path, ReturnType, Token,
    Type, Visibility,
};

/// Makes the type of an inherent `impl` block shareable through a manager: its dispatch table
/// (`Shared`), its constructor (`Construct`) and a typed proxy (`Managed::Proxy`). See the
/// [crate documentation](crate) for the rules and a full example.
#[proc_macro_attribute]
pub fn managed(attr: TokenStream, item: TokenStream) -> TokenStream {
    let options = syn::parse_macro_input!(attr as Options);
    let mut block = syn::parse_macro_input!(item as ItemImpl);
    // The block is kept (without this macro's markers) even when it has errors, so that
    // only those errors are reported, not every use of its methods.
    let mut errors = Errors::default();
    let markers: Vec<Option<Markers>> = block
        .items
        .iter_mut()
        .map(|item| match item {
            ImplItem::Fn(f) => Some(take_markers(&mut f.attrs, &mut errors)),
            _ => None,
        })
        .collect();
    let generated =
        expand(options, &block, markers, errors).unwrap_or_else(|e| e.to_compile_error());
    quote!(#block #generated).into()
}

/// `#[managed(proxy = Name, crate = path)]`.
#[derive(Default)]
struct Options {
    proxy: Option<Ident>,
    krate: Option<Path>,
}

impl Parse for Options {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut o = Options::default();
        while !input.is_empty() {
            if input.peek(Token![crate]) {
                input.parse::<Token![crate]>()?;
                input.parse::<Token![=]>()?;
                o.krate = Some(input.call(Path::parse_mod_style)?);
            } else {
                let key: Ident = input.parse()?;
                input.parse::<Token![=]>()?;
                if key == "proxy" {
                    o.proxy = Some(input.parse()?);
                } else {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown option `{key}`: `#[managed]` takes `proxy = Name` and `crate = path`"
                        ),
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(o)
    }
}

/// How a method's result travels back.
enum Returns {
    /// `R` (`()` included): its value.
    Value(Type),
    /// `Result<R, E>`: the `Ok` value, or the `Err` raised.
    Result(Type),
}

impl Returns {
    /// The value type a caller gets.
    fn value(&self) -> &Type {
        match self {
            Returns::Value(t) | Returns::Result(t) => t,
        }
    }
}

/// One argument: its name, its declared type, and the owned type decoded in the server.
struct Arg {
    ident: Ident,
    ty: Type,
    owned: Type,
    borrowed: bool,
}

/// A method the proxy can call.
struct Method {
    ident: Ident,
    name: String,
    vis: Visibility,
    docs: Vec<Attribute>,
    args: Vec<Arg>,
    returns: Returns,
    exposed: bool,
    typeid: Option<LitStr>,
}

/// The `#[constructor]`.
struct Constructor {
    ident: Ident,
    args: Vec<Arg>,
    result: bool,
}

/// The markers a method carries.
#[derive(Default)]
struct Markers {
    exposed: bool,
    skip: bool,
    constructor: bool,
    typeid: Option<LitStr>,
    /// The `#[returns_proxy(..)]` attribute, and whether its arguments were readable.
    returns_proxy: Option<(TokenStream2, bool)>,
}

/// Takes this macro's attributes off `attrs`.
fn take_markers(attrs: &mut Vec<Attribute>, errors: &mut Errors) -> Markers {
    let mut m = Markers::default();
    attrs.retain(|a| {
        let Some(id) = a.path().get_ident() else {
            return true;
        };
        match id.to_string().as_str() {
            "exposed" => m.exposed = true,
            "skip" => m.skip = true,
            "constructor" => m.constructor = true,
            "returns_proxy" => {
                let mut typeid = None;
                let parsed = match &a.meta {
                    syn::Meta::List(_) => a.parse_nested_meta(|meta| {
                        if meta.path.is_ident("typeid") {
                            typeid = Some(meta.value()?.parse::<LitStr>()?);
                            Ok(())
                        } else {
                            Err(meta.error("`#[returns_proxy]` takes `typeid = \"Name\"`"))
                        }
                    }),
                    _ => Ok(()),
                };
                m.returns_proxy = Some((a.to_token_stream(), parsed.is_ok()));
                match (parsed, typeid) {
                    (Err(e), _) => errors.push(e),
                    (Ok(()), Some(t)) => m.typeid = Some(t),
                    (Ok(()), None) => {}
                }
            }
            _ => return true,
        }
        false
    });
    m
}

/// Errors gathered while reading the block, reported together.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    fn at(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

fn expand(
    options: Options,
    block: &ItemImpl,
    markers: Vec<Option<Markers>>,
    mut errors: Errors,
) -> syn::Result<TokenStream2> {
    if let Some((_, path, _)) = &block.trait_ {
        return Err(syn::Error::new_spanned(
            path,
            "`#[managed]` goes on the type's inherent `impl` block, not on a trait impl",
        ));
    }
    if !block.generics.params.is_empty() || block.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &block.generics,
            "`#[managed]` needs a non-generic `impl` block: a manager makes values of one concrete type",
        ));
    }
    let self_ty = (*block.self_ty).clone();
    let type_ident = match &self_ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| s.ident.clone()),
        _ => None,
    }
    .ok_or_else(|| syn::Error::new_spanned(&self_ty, "`#[managed]` needs a named type"))?;
    let type_name = type_ident.unraw().to_string();

    let mut methods = Vec::new();
    let mut constructor: Option<Constructor> = None;
    for (item, markers) in block.items.iter().zip(markers) {
        let (ImplItem::Fn(f), Some(markers)) = (item, markers) else {
            continue;
        };
        if markers.skip {
            if markers.exposed || markers.constructor || markers.returns_proxy.is_some() {
                errors.at(
                    &f.sig.ident,
                    format!(
                        "`{}` is marked `#[skip]` and also exposed, returning a proxy or a constructor",
                        f.sig.ident
                    ),
                );
            }
            continue;
        }
        if markers.constructor {
            if let Some(c) = read_constructor(f, &self_ty, &mut errors) {
                if constructor.is_some() {
                    errors.at(
                        &f.sig.ident,
                        format!("`{}`: only one `#[constructor]` per type", f.sig.ident),
                    );
                } else {
                    constructor = Some(c);
                }
            }
            continue;
        }
        if let Some(m) = read_method(f, markers, &self_ty, &mut errors) {
            methods.push(m);
        }
    }
    errors.finish()?;

    let krate = match options.krate {
        Some(p) => p.into_token_stream(),
        None => runtime_path(),
    };
    let proxy = options
        .proxy
        .unwrap_or_else(|| format_ident!("{}Proxy", type_ident.unraw()));
    let shared = shared_impl(&krate, &self_ty, &type_name, &methods);
    let construct = constructor.map(|c| construct_impl(&krate, &self_ty, &type_name, &c));
    let proxy_items = proxy_items(&krate, &self_ty, &type_name, &proxy, &methods);
    Ok(quote! {
        #shared
        #construct
        impl #krate::Managed for #self_ty {
            type Proxy = #proxy;
        }
        #proxy_items
    })
}

/// The path of the runtime crate as the calling crate sees it.
fn runtime_path() -> TokenStream2 {
    use proc_macro_crate::{FoundCrate, crate_name};
    match crate_name("multiprocessing-managers") {
        Ok(FoundCrate::Name(n)) => {
            let n = Ident::new(&n, Span::call_site());
            return quote!(::#n);
        }
        // Its own doc tests and integration tests see it by name.
        Ok(FoundCrate::Itself) => return quote!(::multiprocessing_managers),
        Err(_) => {}
    }
    match crate_name("multiprocessing") {
        Ok(FoundCrate::Name(n)) => {
            let n = Ident::new(&n, Span::call_site());
            quote!(::#n::managers)
        }
        _ => quote!(::multiprocessing::managers),
    }
}

/// Whether a visibility is plain `pub`.
fn is_pub(v: &Visibility) -> bool {
    matches!(v, Visibility::Public(_))
}

/// What can't be proxied in a signature, common to methods and the constructor.
fn check_signature(f: &ImplItemFn, errors: &mut Errors) -> bool {
    let name = &f.sig.ident;
    let before = errors.0.is_some();
    let mut fail = |tokens: &dyn ToTokens, why: &str| {
        errors.at(
            tokens,
            format!("`#[managed]` can't proxy `{name}`: {why} (mark it `#[skip]` to leave it out)"),
        );
    };
    if !f.sig.generics.params.is_empty() || f.sig.generics.where_clause.is_some() {
        fail(
            &f.sig.generics,
            "a generic method has no one signature to call by name",
        );
    }
    if let Some(a) = &f.sig.asyncness {
        fail(
            a,
            "an `async` method cannot be called by the manager's server",
        );
    }
    if let Some(u) = &f.sig.unsafety {
        fail(
            u,
            "an `unsafe` method cannot be called safely from another process",
        );
    }
    if let Some(v) = &f.sig.variadic {
        fail(v, "variadic arguments cannot be sent");
    }
    errors.0.is_some() == before
}

/// The arguments after the receiver.
fn read_args(f: &ImplItemFn, errors: &mut Errors) -> Option<Vec<Arg>> {
    let name = &f.sig.ident;
    let mut ok = true;
    let mut args = Vec::new();
    for input in &f.sig.inputs {
        let FnArg::Typed(pt) = input else { continue };
        let mut fail = |tokens: &dyn ToTokens, why: String| {
            ok = false;
            errors.at(
                tokens,
                format!(
                    "`#[managed]` can't proxy `{name}`: {why} (mark it `#[skip]` to leave it out)"
                ),
            );
        };
        let ident = match &*pt.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
            other => {
                fail(
                    other,
                    "its arguments must be plain names, so the proxy can take them".into(),
                );
                continue;
            }
        };
        let ty = (*pt.ty).clone();
        if holds_impl_trait(ty.to_token_stream()) {
            fail(
                &ty,
                format!("argument `{ident}` is `impl Trait`, which has no one type to decode"),
            );
            continue;
        }
        let (owned, borrowed) = match &ty {
            Type::Reference(r) if r.mutability.is_some() => {
                fail(
                    &ty,
                    format!(
                        "argument `{ident}` is `&mut`: the caller's value stays in the caller's process"
                    ),
                );
                continue;
            }
            Type::Reference(r) if r.lifetime.is_some() => {
                fail(
                    &ty,
                    format!("argument `{ident}` borrows for a named lifetime"),
                );
                continue;
            }
            Type::Reference(r) => (owned_of(&r.elem), true),
            _ => (ty.clone(), false),
        };
        if borrows(owned.to_token_stream()) {
            fail(
                &ty,
                format!(
                    "argument `{ident}` borrows inside its type; only a whole argument may be a reference (`&str`, `&[T]`, `&T`)"
                ),
            );
            continue;
        }
        args.push(Arg {
            ident,
            ty,
            owned,
            borrowed,
        });
    }
    ok.then_some(args)
}

/// The owned type a `&T` argument is decoded into: `String` for `str`, `Vec<T>` for `[T]`.
fn owned_of(elem: &Type) -> Type {
    match elem {
        Type::Path(p) if p.qself.is_none() && p.path.is_ident("str") => {
            syn::parse_quote!(::std::string::String)
        }
        Type::Slice(s) => {
            let t = &s.elem;
            syn::parse_quote!(::std::vec::Vec<#t>)
        }
        other => other.clone(),
    }
}

/// Whether a type's tokens hold `impl`.
fn holds_impl_trait(tokens: TokenStream2) -> bool {
    tokens.into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == "impl",
        TokenTree::Group(g) => holds_impl_trait(g.stream()),
        _ => false,
    })
}

/// Whether a type's tokens hold a reference or a lifetime.
fn borrows(tokens: TokenStream2) -> bool {
    tokens.into_iter().any(|t| match t {
        TokenTree::Punct(p) => p.as_char() == '&' || p.as_char() == '\'',
        TokenTree::Group(g) => borrows(g.stream()),
        _ => false,
    })
}

/// `R` or `Result<R, ..>` of a return type.
fn read_returns(f: &ImplItemFn, errors: &mut Errors) -> Option<Returns> {
    let name = &f.sig.ident;
    let ty = match &f.sig.output {
        ReturnType::Default => return Some(Returns::Value(syn::parse_quote!(()))),
        ReturnType::Type(_, t) => (**t).clone(),
    };
    if borrows(ty.to_token_stream()) {
        errors.at(
            &ty,
            format!(
                "`#[managed]` can't proxy `{name}`: it returns a borrow, which cannot leave the manager's process (mark it `#[skip]` to leave it out)"
            ),
        );
        return None;
    }
    if holds_impl_trait(ty.to_token_stream()) {
        errors.at(
            &ty,
            format!(
                "`#[managed]` can't proxy `{name}`: it returns `impl Trait`, which has no one type to decode (mark it `#[skip]` to leave it out)"
            ),
        );
        return None;
    }
    Some(match result_ok(&ty) {
        Some(ok) => Returns::Result(ok),
        None => Returns::Value(ty),
    })
}

/// `R` if `ty` is `Result<R, ..>` (any path ending in `Result`).
fn result_ok(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(a) = &last.arguments else {
        return None;
    };
    match a.args.first()? {
        syn::GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    }
}

/// Whether `ty` is `Self` or the type itself.
fn is_self(ty: &Type, self_ty: &Type) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self") => true,
        _ => ty.to_token_stream().to_string() == self_ty.to_token_stream().to_string(),
    }
}

fn read_method(
    f: &ImplItemFn,
    markers: Markers,
    self_ty: &Type,
    errors: &mut Errors,
) -> Option<Method> {
    let name = &f.sig.ident;
    let receiver = match f.sig.receiver() {
        None => {
            // An associated function: not a method of the shared object.
            if markers.exposed || markers.returns_proxy.is_some() {
                errors.at(
                    name,
                    format!(
                        "`{name}` has no `self`: only methods taking `&self` or `&mut self` can be exposed"
                    ),
                );
            }
            return None;
        }
        Some(r) => r,
    };
    let by_reference = match (&receiver.colon_token, &*receiver.ty) {
        (None, _) => receiver.reference.is_some(),
        (Some(_), Type::Reference(r)) => is_self(&r.elem, self_ty),
        (Some(_), _) => false,
    };
    let mut ok = check_signature(f, errors);
    if !by_reference {
        ok = false;
        errors.at(
            receiver,
            format!(
                "`#[managed]` can't proxy `{name}`: it takes `self` by value, but the value stays in the manager; take `&self` or `&mut self` (or mark it `#[skip]`)"
            ),
        );
    }
    let args = read_args(f, errors);
    let returns = read_returns(f, errors);
    let typeid = match (markers.returns_proxy, markers.typeid) {
        (Some((_, false)), None) => return None,
        (Some((attr, true)), None) => {
            errors.push(syn::Error::new_spanned(
                attr,
                format!("`{name}`: `#[returns_proxy]` needs the typeid of the objects it makes: `#[returns_proxy(typeid = \"Name\")]`"),
            ));
            return None;
        }
        (_, t) => t,
    };
    if name == "from_proxy" || name == "into_proxy" {
        errors.at(
            name,
            format!("`{name}` would clash with the proxy's own `{name}`: rename it, or mark it `#[skip]`"),
        );
        return None;
    }
    let (args, returns) = (args?, returns?);
    if typeid.is_some()
        && matches!(&returns, Returns::Value(t) if matches!(t, Type::Tuple(t) if t.elems.is_empty()))
    {
        errors.at(
            name,
            format!("`{name}`: a `#[returns_proxy]` method returns the managed value to share"),
        );
        return None;
    }
    if !ok {
        return None;
    }
    let unraw = name.unraw().to_string();
    Some(Method {
        ident: name.clone(),
        exposed: markers.exposed || (is_pub(&f.vis) && !unraw.starts_with('_')),
        name: unraw,
        vis: f.vis.clone(),
        docs: f
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .cloned()
            .collect(),
        args,
        returns,
        typeid,
    })
}

fn read_constructor(f: &ImplItemFn, self_ty: &Type, errors: &mut Errors) -> Option<Constructor> {
    let name = &f.sig.ident;
    if f.sig.receiver().is_some() {
        errors.at(
            name,
            format!("`#[constructor]` `{name}` must be an associated function (no `self`)"),
        );
        return None;
    }
    let ok = check_signature(f, errors);
    let args = read_args(f, errors)?;
    let returns = read_returns(f, errors)?;
    let result = match &returns {
        Returns::Value(t) if is_self(t, self_ty) => false,
        Returns::Result(t) if is_self(t, self_ty) => true,
        _ => {
            errors.at(
                &f.sig.output,
                format!("`#[constructor]` `{name}` must return `Self` or `Result<Self, E>`"),
            );
            return None;
        }
    };
    ok.then(|| Constructor {
        ident: name.clone(),
        args,
        result,
    })
}

/// Decodes `__args` into `__v0..`, and the expressions passing them to the method.
fn decode_args(
    krate: &TokenStream2,
    func: &str,
    args: &[Arg],
) -> (TokenStream2, Vec<TokenStream2>) {
    let names: Vec<String> = args.iter().map(|a| a.ident.unraw().to_string()).collect();
    let slots: Vec<Ident> = (0..args.len()).map(|i| format_ident!("__a{}", i)).collect();
    let values: Vec<Ident> = (0..args.len()).map(|i| format_ident!("__v{}", i)).collect();
    let decoded = args
        .iter()
        .zip(&slots)
        .zip(&values)
        .zip(&names)
        .map(|(((a, slot), v), n)| {
            let owned = &a.owned;
            quote_spanned! {a.ty.span()=>
                let #v: #owned = #krate::__private::arg(#func, #n, #slot)?;
            }
        });
    let code = quote! {
        let [#(#slots),*] = #krate::__private::args(#func, __args, &[#(#names),*])?;
        #(#decoded)*
    };
    let pass = args
        .iter()
        .zip(&values)
        .map(|(a, v)| if a.borrowed { quote!(&#v) } else { quote!(#v) })
        .collect();
    (code, pass)
}

fn shared_impl(
    krate: &TokenStream2,
    self_ty: &Type,
    type_name: &str,
    methods: &[Method],
) -> TokenStream2 {
    let arms = methods.iter().map(|m| {
        let ident = &m.ident;
        let name = &m.name;
        let (decode, pass) = decode_args(krate, name, &m.args);
        let call = quote!(Self::#ident(self, #(#pass),*));
        let answer = match (&m.typeid, &m.returns) {
            (None, Returns::Value(_)) => quote!(#krate::__private::ret(#name, #call)),
            (None, Returns::Result(_)) => quote!(#krate::__private::ret_result(#name, #call)),
            (Some(t), Returns::Value(_)) => quote!(#krate::__private::share(#t, #call)),
            (Some(t), Returns::Result(_)) => quote!(#krate::__private::share_result(#t, #call)),
        };
        quote! {
            #name => {
                #decode
                #answer
            }
        }
    });
    let exposed = methods.iter().filter(|m| m.exposed).map(|m| &m.name);
    quote! {
        impl #krate::Shared for #self_ty {
            fn call(
                &mut self,
                __method: &str,
                __args: ::std::vec::Vec<#krate::Object>,
                _: #krate::Caller,
            ) -> ::std::result::Result<#krate::Outcome, #krate::Raised> {
                let _in_method = #krate::__private::in_method();
                match __method {
                    #(#arms)*
                    _ => {
                        let _ = __args;
                        ::std::result::Result::Err(#krate::__private::no_method(#type_name, __method))
                    }
                }
            }

            fn value(&self) -> #krate::Object {
                let _in_method = #krate::__private::in_method();
                #[allow(unused_imports)]
                use #krate::__private::{ValueByName as _, ValueBySerde as _};
                (&#krate::__private::ValueOf(self))
                    .managed_value()
                    .unwrap_or_else(|| #krate::Object::Str(#krate::__private::opaque(#type_name)))
            }

            fn repr(&self) -> ::std::string::String {
                let _in_method = #krate::__private::in_method();
                #[allow(unused_imports)]
                use #krate::__private::{ValueByName as _, ValueBySerde as _};
                match (&#krate::__private::ValueOf(self)).managed_value() {
                    ::std::option::Option::Some(v) => ::std::string::ToString::to_string(&v),
                    ::std::option::Option::None => #krate::__private::opaque(#type_name),
                }
            }

            fn exposed(&self) -> ::std::option::Option<&[&'static str]> {
                ::std::option::Option::Some(&[#(#exposed),*])
            }
        }
    }
}

fn construct_impl(
    krate: &TokenStream2,
    self_ty: &Type,
    type_name: &str,
    c: &Constructor,
) -> TokenStream2 {
    let ident = &c.ident;
    let func = format!("{type_name}::{}", ident.unraw());
    let (decode, pass) = decode_args(krate, &func, &c.args);
    let call = quote!(Self::#ident(#(#pass),*));
    let made = if c.result {
        quote!(#krate::__private::constructed(#call))
    } else {
        quote!(::std::result::Result::Ok(#call))
    };
    quote! {
        impl #krate::Construct for #self_ty {
            fn construct(
                __args: ::std::vec::Vec<#krate::Object>,
            ) -> ::std::result::Result<Self, #krate::Raised> {
                let _in_method = #krate::__private::in_method();
                #decode
                #made
            }
        }
    }
}

/// Replaces `Self` with the type, for signatures moved into the proxy.
struct ReplaceSelf<'a>(&'a Type);

impl VisitMut for ReplaceSelf<'_> {
    fn visit_type_mut(&mut self, t: &mut Type) {
        if let Type::Path(p) = t
            && p.qself.is_none()
            && p.path.is_ident("Self")
        {
            *t = self.0.clone();
            return;
        }
        syn::visit_mut::visit_type_mut(self, t);
    }
}

/// `ty` with `Self` replaced by `self_ty`.
fn with_self(ty: &Type, self_ty: &Type) -> Type {
    let mut ty = ty.clone();
    ReplaceSelf(self_ty).visit_type_mut(&mut ty);
    ty
}

fn proxy_items(
    krate: &TokenStream2,
    self_ty: &Type,
    type_name: &str,
    proxy: &Ident,
    methods: &[Method],
) -> TokenStream2 {
    let fns = methods.iter().map(|m| {
        let ident = &m.ident;
        let name = &m.name;
        let vis = &m.vis;
        let docs = &m.docs;
        let see = format!("Calls `{type_name}::{name}` in the manager's server.");
        let params = m.args.iter().map(|a| {
            let ty = with_self(&a.ty, self_ty);
            let id = &a.ident;
            quote!(#id: #ty)
        });
        let encoded = m.args.iter().map(|a| {
            let id = &a.ident;
            quote_spanned!(a.ty.span()=> #krate::__private::encode(&#id)?)
        });
        let value = with_self(m.returns.value(), self_ty);
        let (ret, body) = match &m.typeid {
            None => (
                quote!(#value),
                quote!(#krate::__private::decode(self.0.call_method(#name, __args)?)),
            ),
            Some(_) => (
                quote!(<#value as #krate::Managed>::Proxy),
                quote!(::std::result::Result::Ok(#krate::__private::proxy_of::<#value>(
                    self.0.call_method_proxy(#name, __args)?
                ))),
            ),
        };
        let allow = (!is_pub(vis)).then(|| quote!(#[allow(dead_code)]));
        let doc_gap = (!docs.is_empty()).then(|| quote!(#[doc = ""]));
        quote! {
            #(#docs)*
            #doc_gap
            #[doc = #see]
            #allow
            #vis fn #ident(&self, #(#params),*) -> #krate::Result<#ret> {
                let __args = ::std::vec![#(#encoded),*];
                #body
            }
        }
    });
    let doc = format!(
        "A proxy to a `{type_name}` in a manager: each method calls the one of the same name in \
         the manager's server (generated by `#[managed]`). It derefs to the untyped `Proxy`; \
         `Display` shows the referent's value."
    );
    quote! {
        #[doc = #doc]
        pub struct #proxy(#krate::Proxy);

        impl #proxy {
            /// A typed view of `proxy` (its referent must be of this type for calls to succeed).
            #[must_use]
            pub fn from_proxy(proxy: #krate::Proxy) -> Self {
                Self(proxy)
            }

            /// The untyped proxy.
            #[must_use]
            pub fn into_proxy(self) -> #krate::Proxy {
                self.0
            }

            #(#fns)*
        }

        impl ::std::clone::Clone for #proxy {
            fn clone(&self) -> Self {
                Self(::std::clone::Clone::clone(&self.0))
            }
        }

        impl ::std::ops::Deref for #proxy {
            type Target = #krate::Proxy;
            fn deref(&self) -> &#krate::Proxy {
                &self.0
            }
        }

        impl ::std::fmt::Debug for #proxy {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Debug::fmt(&self.0, f)
            }
        }

        /// Shows the referent, as Python's `str(proxy)`.
        impl ::std::fmt::Display for #proxy {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        /// Stored inside another shared object, it is a reference to its referent.
        impl ::std::convert::From<&#proxy> for #krate::Object {
            fn from(p: &#proxy) -> #krate::Object {
                p.0.to_object()
            }
        }

        /// Travels as its `Proxy` (a reference held in transit).
        impl #krate::__private::serde::Serialize for #proxy {
            fn serialize<S: #krate::__private::serde::Serializer>(
                &self,
                s: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                #krate::__private::serde::Serialize::serialize(&self.0, s)
            }
        }

        impl<'de> #krate::__private::serde::Deserialize<'de> for #proxy {
            fn deserialize<D: #krate::__private::serde::Deserializer<'de>>(
                d: D,
            ) -> ::std::result::Result<Self, D::Error> {
                <#krate::Proxy as #krate::__private::serde::Deserialize<'de>>::deserialize(d).map(Self)
            }
        }

        impl #krate::ProxyType for #proxy {
            fn from_proxy(proxy: #krate::Proxy) -> Self {
                Self(proxy)
            }
            fn as_proxy(&self) -> &#krate::Proxy {
                &self.0
            }
        }
    }
}
