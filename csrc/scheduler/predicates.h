// Predicates shared by the filter and score kernels (defined in filter.cpp).
#pragma once

#include <cstdint>

#include "scheduler/kernels.h"

namespace pykube::scheduler {

// True when every requirement of the pod's term `term` matches node `row`.
bool term_matches(const Nodes& nodes, const Pod& pod, std::int64_t row, std::int64_t term);

// True when some toleration of the pod tolerates the taint. With
// prefer_no_schedule_only, tolerations with the NoSchedule or NoExecute
// effect are ignored, as kube-scheduler's TaintToleration score does.
bool any_toleration_tolerates(const Pod& pod, std::int32_t key, std::int32_t value,
                              std::int8_t effect, bool prefer_no_schedule_only);

// True when the node matches spec.nodeSelector and the required node affinity.
bool matches_required_affinity(const Nodes& nodes, const Pod& pod, std::int64_t row);

// Returns the index of the first NoSchedule or NoExecute taint of the node
// that no toleration tolerates, or -1.
std::int64_t first_untolerated_taint(const Nodes& nodes, const Pod& pod, std::int64_t row);

}  // namespace pykube::scheduler
