// The formats of what stores say (names, listings, errors) are a module of their own, free of any
// I/O, so that the fuzzers build without the drivers; everything that uses a store sees them here.
@_exported import StoreFormats
