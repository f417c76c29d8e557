// Nothing: the header only declares what libFuzzer provides.
