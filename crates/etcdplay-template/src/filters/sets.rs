//! Set and combinatorics filters: `union`, `difference`, `intersect`, `symmetric_difference`
//! (Ansible's `mathstuff`), and `product`, `permutations`, `combinations` (Python's
//! `itertools`, tuples shown as lists). Results keep the order of first appearance; Python's set
//! order is an implementation detail (random for strings). Every result is bounded by
//! [`MAX_COMBINATIONS`] items.

use minijinja::value::{Kwargs, Rest, Value};
use minijinja::{Environment, Error, ErrorKind};

use super::ensure_defined;

/// Most items a combinatorics filter may produce (Python would run out of memory instead).
pub(crate) const MAX_COMBINATIONS: usize = 100_000;

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("union", |a: Value, b: Value| {
        let (a, b) = (items(&a)?, items(&b)?);
        Ok::<_, Error>(Value::from(unique(a.into_iter().chain(b))))
    });
    env.add_filter("intersect", |a: Value, b: Value| {
        let (a, b) = (items(&a)?, items(&b)?);
        Ok::<_, Error>(Value::from(unique(a.into_iter().filter(|x| b.contains(x)))))
    });
    env.add_filter("difference", |a: Value, b: Value| {
        let (a, b) = (items(&a)?, items(&b)?);
        Ok::<_, Error>(Value::from(unique(
            a.into_iter().filter(|x| !b.contains(x)),
        )))
    });
    env.add_filter("symmetric_difference", |a: Value, b: Value| {
        let (a, b) = (items(&a)?, items(&b)?);
        let only_a = a.iter().filter(|x| !b.contains(x)).cloned();
        let only_b = b.iter().filter(|x| !a.contains(x)).cloned();
        Ok::<_, Error>(Value::from(unique(
            only_a.chain(only_b).collect::<Vec<_>>(),
        )))
    });
    env.add_filter("product", product);
    env.add_filter("permutations", permutations);
    env.add_filter("combinations", combinations);
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// The items of a list (or the characters of a string, the keys of a dict: Python iteration).
fn items(value: &Value) -> Result<Vec<Value>, Error> {
    ensure_defined(value)?;
    Ok(value.try_iter()?.collect())
}

fn unique(values: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for value in values {
        if !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

fn too_many(filter: &str) -> Error {
    invalid(format!(
        "{filter} would produce more than {MAX_COMBINATIONS} items"
    ))
}

/// `itertools.product(a, *others, repeat=1)`.
fn product(value: Value, others: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let repeat = kwargs.get::<Option<usize>>("repeat")?.unwrap_or(1);
    kwargs.assert_all_used()?;
    let mut pools = vec![items(&value)?];
    for other in others.iter() {
        pools.push(items(other)?);
    }
    let pools: Vec<Vec<Value>> = (0..repeat).flat_map(|_| pools.iter().cloned()).collect();
    let mut total: usize = 1;
    for pool in &pools {
        total = total.saturating_mul(pool.len());
    }
    if total > MAX_COMBINATIONS {
        return Err(too_many("product"));
    }
    let mut out: Vec<Vec<Value>> = vec![Vec::new()];
    for pool in &pools {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                pool.iter().map(move |item| {
                    let mut next = prefix.clone();
                    next.push(item.clone());
                    next
                })
            })
            .collect();
    }
    Ok(Value::from(
        out.into_iter().map(Value::from).collect::<Vec<_>>(),
    ))
}

/// n! / (n-r)!, saturating.
fn count_permutations(n: usize, r: usize) -> usize {
    (n - r + 1..=n).fold(1usize, |acc, k| acc.saturating_mul(k))
}

/// `itertools.permutations(a, r=None)`, in lexicographic order of positions.
fn permutations(value: Value, r: Option<usize>) -> Result<Value, Error> {
    let pool = items(&value)?;
    let n = pool.len();
    let r = r.unwrap_or(n);
    if r > n {
        return Ok(Value::from(Vec::<Value>::new()));
    }
    if count_permutations(n, r) > MAX_COMBINATIONS {
        return Err(too_many("permutations"));
    }
    let mut out = Vec::new();
    let mut chosen = Vec::with_capacity(r);
    let mut used = vec![false; n];
    permute(&pool, r, &mut chosen, &mut used, &mut out);
    Ok(Value::from(out))
}

fn permute(
    pool: &[Value],
    r: usize,
    chosen: &mut Vec<usize>,
    used: &mut [bool],
    out: &mut Vec<Value>,
) {
    if chosen.len() == r {
        out.push(Value::from(
            chosen.iter().map(|i| pool[*i].clone()).collect::<Vec<_>>(),
        ));
        return;
    }
    for i in 0..pool.len() {
        if !used[i] {
            used[i] = true;
            chosen.push(i);
            permute(pool, r, chosen, used, out);
            chosen.pop();
            used[i] = false;
        }
    }
}

/// `itertools.combinations(a, r)`, in lexicographic order of positions.
fn combinations(value: Value, r: usize) -> Result<Value, Error> {
    let pool = items(&value)?;
    let n = pool.len();
    if r > n {
        return Ok(Value::from(Vec::<Value>::new()));
    }
    // C(n, r) computed incrementally, stopping once past the bound.
    let mut count: usize = 1;
    for k in 0..r.min(n - r) {
        count = count.saturating_mul(n - k) / (k + 1);
        if count > MAX_COMBINATIONS {
            return Err(too_many("combinations"));
        }
    }
    let mut out = Vec::new();
    let mut indices: Vec<usize> = (0..r).collect();
    loop {
        out.push(Value::from(
            indices.iter().map(|i| pool[*i].clone()).collect::<Vec<_>>(),
        ));
        // The rightmost index that can still move right.
        let Some(i) = (0..r).rev().find(|&i| indices[i] != i + n - r) else {
            break;
        };
        indices[i] += 1;
        for j in i + 1..r {
            indices[j] = indices[j - 1] + 1;
        }
    }
    Ok(Value::from(out))
}
