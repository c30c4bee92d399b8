# Embeds the chat page (this folder) and its npm front-end libraries into the binary.
#
#   include(.../web/web_assets.cmake)
#   st_web_assets(WEB_ASSETS_CPP)           # path of a generated .cpp implementing web_assets()
#   target_sources(my_target PRIVATE ${WEB_ASSETS_CPP})
#
# The .cpp is regenerated at build time whenever a listed file (or the embedding script)
# changes. The npm libraries come from node_modules/ (`npm ci` here, run by
# scripts/install-deps.sh); if they are missing the page still works, with plain-text replies
# instead of rendered markdown, and configure prints a warning.

set(ST_WEB_DIR ${CMAKE_CURRENT_LIST_DIR})

function(st_web_assets OUT_VAR)
  set(web ${ST_WEB_DIR})
  # URL path | content type (text/* are served as UTF-8) | file
  set(entries
    "/index.html|text/html|${web}/index.html"
    "/app.js|text/javascript|${web}/app.js"
    "/markdown.js|text/javascript|${web}/markdown.js"
    "/style.css|text/css|${web}/style.css"
    "/favicon.svg|image/svg+xml|${web}/favicon.svg")
  set(vendor
    "/vendor/marked.js|text/javascript|${web}/node_modules/marked/lib/marked.umd.js"
    "/vendor/purify.js|text/javascript|${web}/node_modules/dompurify/dist/purify.min.js")
  foreach(v ${vendor})
    string(REPLACE "|" ";" parts "${v}")
    list(GET parts 2 file)
    if(EXISTS "${file}")
      list(APPEND entries "${v}")
    else()
      # A stand-in so the page loads; app.js renders plain text when the library is absent.
      list(GET parts 0 url)
      list(APPEND entries "${url}|text/javascript|${web}/vendor_missing.js")
      message(WARNING "chat page: ${file} not found; run `npm ci` in ${web} "
                      "(scripts/install-deps.sh does) for markdown rendering")
    endif()
  endforeach()

  set(out ${CMAKE_CURRENT_BINARY_DIR}/web_assets.cpp)
  set(manifest ${CMAKE_CURRENT_BINARY_DIR}/web_assets_manifest.cmake)
  set(files "")
  set(manifest_text "set(ST_WEB_HEADER \"${web}/../web_assets.h\")\nset(ST_WEB_ENTRIES\n")
  foreach(e ${entries})
    string(REPLACE "|" ";" parts "${e}")
    list(GET parts 2 file)
    list(APPEND files "${file}")
    string(APPEND manifest_text "  \"${e}\"\n")
  endforeach()
  string(APPEND manifest_text ")\n")
  file(CONFIGURE OUTPUT ${manifest} CONTENT "${manifest_text}" @ONLY)  # rewritten only on change

  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DMANIFEST=${manifest} -DOUT=${out} -P ${web}/embed_web_assets.cmake
    DEPENDS ${files} ${manifest} ${web}/embed_web_assets.cmake
    COMMENT "Embedding the chat page (src/apps/server/web)"
    VERBATIM)
  set(${OUT_VAR} ${out} PARENT_SCOPE)
endfunction()
