// The two completion routes: a request body becomes a Job for the scheduler (on a worker
// thread: parsing and tokenizing can take a while), and the Job's output becomes the reply,
// one JSON body or a stream of server-sent events, as the engine produces it.
#pragma once
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "apps/server/http_exchange.h"
#include "apps/server/protocol.h"
#include "apps/server/scheduler.h"
#include "smallthinker/engine.h"

namespace st::server {

// Header fields every response to a request carries (CORS).
using ExtraHeaders = std::vector<std::pair<std::string, std::string>>;

Response json_response(int status, const json& body, const ExtraHeaders& extra = {});
Response error_response(const ApiError& e, const ExtraHeaders& extra = {});

class Completions {
 public:
  Completions(std::shared_ptr<smallthinker::Model> model, Scheduler& scheduler, std::string model_id, Limits limits,
              ReasoningFormat reasoning = ReasoningFormat::automatic);
  // On a worker thread: parses the body, queues its Job; the reply (or an error response).
  Outcome start(const std::string& body, Endpoint endpoint, const ExtraHeaders& extra);
  // Tokenizes and checks a parsed request (also for the Ollama and Anthropic routes, which
  // translate theirs into this shape); throws ApiError for anything the client got wrong.
  std::shared_ptr<Job> make_job(const CompletionRequest& r);

 private:
  std::unique_ptr<smallthinker::Sampler> tool_sampler(const CompletionRequest& r) const;
  std::string next_id(Endpoint e);

  std::shared_ptr<smallthinker::Model> model_;
  Scheduler& scheduler_;
  std::string model_id_;
  Limits limits_;
  ReasoningFormat reasoning_;  // --reasoning-format: for requests that name none
  std::mutex id_mutex_;
  std::mt19937_64 rng_;
};

}  // namespace st::server
