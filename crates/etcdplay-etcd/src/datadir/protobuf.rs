//! A tiny protobuf wire-format reader: just enough to walk the fields of etcd's WAL
//! records, raft entries, conf changes and snapshots without generated code. It borrows
//! from the input and reports malformed bytes as errors instead of panicking.

/// A protobuf decoding failure; the caller adds the file and offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum ProtoError {
    #[error("protobuf message ends inside a field")]
    Truncated,
    #[error("protobuf varint longer than 10 bytes")]
    VarintTooLong,
    #[error("unsupported protobuf wire type {0}")]
    WireType(u8),
    #[error("protobuf field number 0")]
    FieldZero,
    #[error("protobuf field {field} has the wrong wire type")]
    UnexpectedType { field: u32 },
}

/// One decoded field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Value<'a> {
    /// The value of a varint field, or an error naming the field.
    pub(crate) fn varint(self, field: u32) -> Result<u64, ProtoError> {
        match self {
            Value::Varint(v) => Ok(v),
            _ => Err(ProtoError::UnexpectedType { field }),
        }
    }

    /// The value of a length-delimited field, or an error naming the field.
    pub(crate) fn bytes(self, field: u32) -> Result<&'a [u8], ProtoError> {
        match self {
            Value::Bytes(b) => Ok(b),
            _ => Err(ProtoError::UnexpectedType { field }),
        }
    }
}

/// Reads a base-128 varint at `*pos`, advancing it.
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, ProtoError> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let byte = *buf.get(*pos).ok_or(ProtoError::Truncated)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(ProtoError::VarintTooLong)
}

/// Iterator over `(field number, value)` pairs of one message.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

/// Starts iterating the fields of `buf`.
pub(crate) fn fields(buf: &[u8]) -> Fields<'_> {
    Fields {
        buf,
        pos: 0,
        failed: false,
    }
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        let end = self.pos.checked_add(n).ok_or(ProtoError::Truncated)?;
        let slice = self.buf.get(self.pos..end).ok_or(ProtoError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn next_field(&mut self) -> Result<(u32, Value<'a>), ProtoError> {
        let key = read_varint(self.buf, &mut self.pos)?;
        let field = u32::try_from(key >> 3).map_err(|_| ProtoError::FieldZero)?;
        if field == 0 {
            return Err(ProtoError::FieldZero);
        }
        let value = match key & 7 {
            0 => Value::Varint(read_varint(self.buf, &mut self.pos)?),
            1 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Fixed64(u64::from_le_bytes(a))
            }
            2 => {
                let len = read_varint(self.buf, &mut self.pos)?;
                let len = usize::try_from(len).map_err(|_| ProtoError::Truncated)?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                Value::Fixed32(u32::from_le_bytes(a))
            }
            // Groups (3, 4) are not used by any etcd message we read.
            other => return Err(ProtoError::WireType(other as u8)),
        };
        Ok((field, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), ProtoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        let item = self.next_field();
        self.failed = item.is_err();
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_varint_bytes_and_fixed_fields() {
        // field 1 varint 300, field 2 bytes "hi", field 3 fixed32 7, field 4 fixed64 9
        let msg = [
            0x08, 0xac, 0x02, 0x12, 0x02, b'h', b'i', 0x1d, 7, 0, 0, 0, 0x21, 9, 0, 0, 0, 0, 0, 0,
            0,
        ];
        let got: Vec<_> = fields(&msg).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            vec![
                (1, Value::Varint(300)),
                (2, Value::Bytes(b"hi")),
                (3, Value::Fixed32(7)),
                (4, Value::Fixed64(9)),
            ]
        );
    }

    #[test]
    fn reports_truncation_and_long_varints() {
        assert_eq!(
            fields(&[0x12, 0x05, b'a']).next(),
            Some(Err(ProtoError::Truncated))
        );
        let long = [
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert_eq!(fields(&long).next(), Some(Err(ProtoError::VarintTooLong)));
        assert_eq!(fields(&[0x0b]).next(), Some(Err(ProtoError::WireType(3))));
        assert_eq!(
            fields(&[0x00, 0x01]).next(),
            Some(Err(ProtoError::FieldZero))
        );
    }

    #[test]
    fn reads_u64_above_2_pow_53_exactly() {
        let id: u64 = 0x8e9e_05c5_2164_694d;
        let mut msg = vec![0x08];
        let mut v = id;
        while v >= 0x80 {
            msg.push((v as u8) | 0x80);
            v >>= 7;
        }
        msg.push(v as u8);
        let (f, val) = fields(&msg).next().unwrap().unwrap();
        assert_eq!((f, val.varint(f).unwrap()), (1, id));
    }
}
