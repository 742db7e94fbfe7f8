# Writes OUT, a C file holding every DIR/*.json as a NUL-terminated string with its name
# (the file name without .json), for mla_preset_spec() and mla_preset_name().
file(GLOB files ${DIR}/*.json)
list(SORT files)
set(body "/* Generated from the presets folder by cmake/embed_presets.cmake: do not edit. */\n#include <stddef.h>\n")
set(table "")
set(i 0)
foreach(f ${files})
  get_filename_component(name ${f} NAME_WE)
  file(READ ${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND body "static const char preset_${i}[] = {${hex}0x00};\n")
  string(APPEND table "  {\"${name}\", preset_${i}},\n")
  math(EXPR i "${i} + 1")
endforeach()
string(APPEND body "typedef struct { const char *name; const char *spec; } preset;
const preset mla_presets_table[] = {\n${table}  {NULL, NULL}\n};\n")
file(WRITE ${OUT}.tmp "${body}")
file(RENAME ${OUT}.tmp ${OUT})
