//! The MTA role: drives a milter the way Postfix's milter8.c does.
