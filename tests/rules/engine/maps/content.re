/bitcoin wallet/i CRYPTO
/wire\s+transfer/i
