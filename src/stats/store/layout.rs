//! The embedded store's tables and the shape of a token's row.
//!
//! Why this layout: a trained store is almost all token rows, so their
//! size is the file's size. A row is a fixed-width 8-byte key and a
//! 12-byte value, with no per-row length fields in redb's leaves:
//! - the key is the token hash itself for the global statistics (user 0,
//!   nearly every row), and a hash of user and token for per-user ones:
//!   token hashes are 64-bit already, so mixing the user in loses nothing
//!   a (user, token) pair would keep, and saves 8 bytes a row;
//! - the counts are 32-bit (a token in four billion messages is as
//!   certain as it gets; they saturate there), with the learn clock of the
//!   row's last learn, which expiry orders by.
use redb::TableDefinition;
use xxhash_rust::xxh3::xxh3_64;

use super::api::Class;

/// The format this code writes; `meta.format` holds a file's.
pub const FORMAT: u64 = 2;

/// slot -> (spam, ham, seen); see [`slot`] and [`Row`].
pub const COUNTS: TableDefinition<u64, (u32, u32, u32)> = TableDefinition::new("counts");
/// user -> (spam, ham) learned messages.
pub const LEARNS: TableDefinition<u64, (u64, u64)> = TableDefinition::new("learns");
/// (user, message digest) -> class code, for relearn moves.
pub const LEARNED: TableDefinition<(u64, u128), u8> = TableDefinition::new("learned");
/// name -> value: `journal_seq` (the last journal record applied),
/// `clock` (messages learned so far, the age of rows), `format`.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The first format's token table: (user, token) -> (spam, ham) as 64-bit
/// numbers. Only read, to convert a file that still has it.
pub const OLD_TOKENS: TableDefinition<(u64, u64), (u64, u64)> = TableDefinition::new("tokens");
/// Its name, to find it among a file's tables.
pub const OLD_TOKENS_NAME: &str = "tokens";

/// Where a user's token lives in [`COUNTS`].
pub fn slot(user: u64, token: u64) -> u64 {
    if user == 0 {
        return token;
    }
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&user.to_le_bytes());
    b[8..].copy_from_slice(&token.to_le_bytes());
    xxh3_64(&b)
}

/// A token's counts and age as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Row {
    pub spam: u32,
    pub ham: u32,
    /// The learn clock when a message with this token was last learned.
    pub seen: u32,
}

impl Row {
    pub fn from_value((spam, ham, seen): (u32, u32, u32)) -> Row {
        Row { spam, ham, seen }
    }

    pub fn value(self) -> (u32, u32, u32) {
        (self.spam, self.ham, self.seen)
    }

    pub fn hits(self) -> u64 {
        u64::from(self.spam) + u64::from(self.ham)
    }

    pub fn is_empty(self) -> bool {
        self.spam == 0 && self.ham == 0
    }

    /// Adds `delta` to the class's counter, within 0..=u32::MAX (a relearn
    /// of a message whose tokens changed with a new tokenizer must not
    /// underflow).
    pub fn bump(&mut self, class: Class, delta: i32) {
        let slot = match class {
            Class::Spam => &mut self.spam,
            Class::Ham => &mut self.ham,
        };
        *slot = slot.saturating_add_signed(delta);
    }
}

/// A 64-bit count of the first format, saturated into a row's 32 bits.
pub fn narrow(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_slots_are_the_tokens_and_users_are_kept_apart() {
        assert_eq!(slot(0, 42), 42);
        assert_ne!(slot(7, 42), 42);
        assert_ne!(slot(7, 42), slot(9, 42));
        assert_eq!(slot(7, 42), slot(7, 42));
    }

    #[test]
    fn counts_saturate_both_ways() {
        let mut r = Row {
            spam: u32::MAX,
            ham: 0,
            seen: 3,
        };
        r.bump(Class::Spam, 1);
        r.bump(Class::Ham, -1);
        assert_eq!((r.spam, r.ham), (u32::MAX, 0));
        assert_eq!(narrow(u64::MAX), u32::MAX);
        assert_eq!(narrow(5), 5);
    }
}
