#include "apps/server/http_framing.h"

#include <boost/beast/core/string.hpp>

namespace st::server {

namespace http = boost::beast::http;

void RequestReader::start() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(limits_.header_bytes));
  parser_->body_limit(limits_.body_bytes);
  parser_->eager(false);  // stop after the header once, so the caller sees it complete
  header_reported_ = false;
}

RequestReader::Progress RequestReader::feed(std::string_view data, size_t& consumed) {
  consumed = 0;
  if (error_.status != 0) return Progress::failed;
  if (!parser_) start();
  if (!data.empty()) started_ = true;
  for (;;) {
    boost::beast::error_code ec;
    const size_t n = parser_->put(boost::asio::buffer(data.data() + consumed, data.size() - consumed), ec);
    consumed += n;
    if (ec == http::error::need_more) {
      // An incomplete header stays unconsumed and is parsed again from its start by a fresh
      // parser (at most header_bytes): Beast's parser, resumed, waits for the header's end
      // before looking at its fields where a fresh one stops at the first bad field, so the
      // outcome depended on how the bytes were split into reads (found by
      // tests/fuzz/request_fuzz.cpp).
      if (!parser_->is_header_done()) {
        start();
        consumed = 0;
      }
      return Progress::need_more;
    }
    if (ec == http::error::header_limit) {
      error_ = {431, "the request header is larger than " + std::to_string(limits_.header_bytes) + " bytes"};
    } else if (ec == http::error::body_limit) {
      error_ = {413, "the request body is larger than the limit of " + std::to_string(limits_.body_bytes) +
                         " bytes (the server's --max-body)"};
    } else if (ec) {
      error_ = {400, "malformed HTTP request: " + ec.message()};
    }
    if (error_.status != 0) return Progress::failed;
    if (parser_->is_done()) return Progress::complete;
    if (parser_->is_header_done() && !header_reported_) {
      header_reported_ = true;
      parser_->eager(true);
      return Progress::header;
    }
    if (consumed == data.size() || n == 0) return Progress::need_more;
  }
}

bool RequestReader::expects_continue() const {
  if (!parser_ || !parser_->is_header_done()) return false;
  const auto it = parser_->get().find(http::field::expect);
  return it != parser_->get().end() && boost::beast::iequals(it->value(), "100-continue");
}

Request RequestReader::take() {
  Request r = parser_->release();
  parser_.reset();
  started_ = false;
  return r;
}

}  // namespace st::server
