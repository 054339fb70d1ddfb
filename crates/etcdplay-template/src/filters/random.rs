//! `random` and `shuffle`, drawing exactly as Ansible does (Python's `random.Random(seed)`, see
//! [`crate::pyrandom`]), so a seeded result equals Ansible's.

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

use super::ensure_defined;
use crate::pyrandom::{PyRandom, RandomError, Seed};

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_filter("random", random);
    env.add_filter("shuffle", shuffle);
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

fn random_error(err: RandomError) -> Error {
    Error::new(ErrorKind::InvalidOperation, err.to_string())
}

/// A Python seed from a template value: ints (and bools) as numbers, anything else as its text.
pub(crate) fn seed_of(value: &Value) -> Result<Seed, Error> {
    Ok(match value.kind() {
        ValueKind::Bool => Seed::Int(i128::from(value.is_true())),
        ValueKind::Number if value.is_integer() => Seed::Int(i128::try_from(value.clone())?),
        ValueKind::String => Seed::Text(value.as_str().unwrap_or_default().to_string()),
        _ => {
            return Err(invalid(format!(
                "The only supported seed types are: None, int, float, str, bytes, and bytearray; got {}",
                super::python_type_name(value)
            )))
        }
    })
}

/// A seeded generator, or one seeded by the operating system.
pub(crate) fn generator(seed: Option<&Value>) -> Result<PyRandom, Error> {
    match seed.filter(|s| !s.is_none() && !s.is_undefined()) {
        Some(seed) => Ok(PyRandom::seeded(&seed_of(seed)?)),
        None => PyRandom::from_os().map_err(random_error),
    }
}

/// Ansible's `random(end, start=None, step=None, seed=None)`: a number in `range(start, end,
/// step)` for an int, one item for a sequence.
fn random(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    ensure_defined(&value)?;
    let start: Option<i64> = kwargs.get("start")?;
    let step: Option<i64> = kwargs.get("step")?;
    let seed: Option<Value> = kwargs.get("seed")?;
    kwargs.assert_all_used()?;
    let mut rng = generator(seed.as_ref())?;
    if value.kind() == ValueKind::Number && value.is_integer() {
        let end = i64::try_from(value)?;
        // `if not start: start = 0`, `if not step: step = 1`.
        let start = start.unwrap_or(0);
        let step = step.filter(|s| *s != 0).unwrap_or(1);
        return rng
            .randrange(start, end, step)
            .map(Value::from)
            .map_err(random_error);
    }
    if !matches!(
        value.kind(),
        ValueKind::Seq | ValueKind::Map | ValueKind::String | ValueKind::Iterable
    ) {
        return Err(invalid("random can only be used on sequences and integers"));
    }
    if start.unwrap_or(0) != 0 || step.unwrap_or(0) != 0 {
        return Err(invalid(
            "start and step can only be used with integer values",
        ));
    }
    let items: Vec<Value> = match value.kind() {
        ValueKind::String => value
            .as_str()
            .unwrap_or_default()
            .chars()
            .map(|c| Value::from(c.to_string()))
            .collect(),
        _ => value.try_iter()?.collect(),
    };
    let index = rng.choice_index(items.len()).map_err(random_error)?;
    Ok(items[index].clone())
}

/// Ansible's `shuffle(seed=None)`: a shuffled copy of the list (a non-list is returned as a
/// list of its items, as `list(value)`).
fn shuffle(value: Value, seed: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    ensure_defined(&value)?;
    let seed = match kwargs.get::<Option<Value>>("seed")? {
        Some(seed) => Some(seed),
        None => seed,
    };
    kwargs.assert_all_used()?;
    let mut items: Vec<Value> = match value.kind() {
        ValueKind::String => value
            .as_str()
            .unwrap_or_default()
            .chars()
            .map(|c| Value::from(c.to_string()))
            .collect(),
        _ => value.try_iter()?.collect(),
    };
    // Ansible tests `if seed:`: a falsy seed means an unseeded shuffle.
    let seed = seed.filter(|s| s.is_true());
    generator(seed.as_ref())?.shuffle(&mut items);
    Ok(Value::from(items))
}
