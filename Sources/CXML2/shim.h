// libxml2 (Debian libxml2-dev): the parser of vSphere's SOAP answers, used directly through its
// xmlReader API (Foundation's XMLParser over it trapped and crashed on malformed names under the fuzzer).
#ifndef STOREFS_CXML2_SHIM_H
#define STOREFS_CXML2_SHIM_H
#include <libxml/xmlversion.h>
// Debian's libxml2 is built with ICU, whose headers clash with the ICU Foundation ships. Only the
// layout of the encoding handler depends on it, which is never touched here (only pointers pass).
#undef LIBXML_ICU_ENABLED
#include <libxml/xmlreader.h>
#include <libxml/parser.h>
#endif
