// Score plugins of kube-scheduler's default profile, before normalisation.
// kernels.h describes the arrays; _reference.py is the pure-Python twin.
#include <cmath>
#include <vector>

#include "scheduler/kernels.h"
#include "scheduler/predicates.h"
#include "scheduler/topology.h"

namespace pykube::scheduler {
namespace {

// ImageLocality clamps the summed image size per container between these,
// in bytes: 23 MiB scores 0 and 1000 MiB per container scores 100.
constexpr std::int64_t kMebibyte = 1024 * 1024;
constexpr std::int64_t kImageMinThreshold = 23 * kMebibyte;
constexpr std::int64_t kImageMaxContainerThreshold = 1000 * kMebibyte;

// The allocatable and requested amount of one resource as kube-scheduler's
// resource scorers see them after placing the pod. A (0, 0) pair makes the
// scorer skip the resource: extended resources the pod does not request,
// and the pods column, which is no scoring resource.
struct Amounts {
    std::int64_t allocatable;
    std::int64_t requested;
};

Amounts amounts_after(const Nodes& nodes, std::int64_t row, std::int64_t column,
                      std::int64_t pod_request, bool use_nonzero) {
    if (column == kPodsColumn || (column >= kFirstExtendedColumn && pod_request == 0)) {
        return {0, 0};
    }
    const std::int64_t allocatable = nodes.allocatable[row * nodes.resource_count + column];
    std::int64_t requested = nodes.requested[row * nodes.resource_count + column];
    if (use_nonzero && (column == kCpuColumn || column == kMemoryColumn)) {
        requested = nodes.nonzero_requested[row * 2 + column];
    }
    return {allocatable, requested + pod_request};
}

std::int64_t least_allocated(std::int64_t requested, std::int64_t capacity) {
    if (capacity == 0 || requested > capacity) {
        return 0;
    }
    return (capacity - requested) * kMaxNodeScore / capacity;
}

std::int64_t most_allocated(std::int64_t requested, std::int64_t capacity) {
    if (capacity == 0) {
        return 0;
    }
    if (requested > capacity) {
        requested = capacity;
    }
    return requested * kMaxNodeScore / capacity;
}

// The piecewise linear shape of RequestedToCapacityRatio at utilization p.
// C++ division truncates toward zero like Go's, which matters for
// decreasing segments.
std::int64_t shape_score(const Scoring& scoring, std::int64_t p) {
    for (std::int64_t i = 0; i < scoring.shape_count; ++i) {
        if (p <= scoring.shape_utilization[i]) {
            if (i == 0) {
                return scoring.shape_scores[0];
            }
            const std::int64_t du = scoring.shape_utilization[i] - scoring.shape_utilization[i - 1];
            const std::int64_t ds = scoring.shape_scores[i] - scoring.shape_scores[i - 1];
            return scoring.shape_scores[i - 1] + ds * (p - scoring.shape_utilization[i - 1]) / du;
        }
    }
    return scoring.shape_scores[scoring.shape_count - 1];
}

std::int64_t ratio_resource_score(const Scoring& scoring, std::int64_t requested,
                                  std::int64_t capacity) {
    if (capacity == 0 || requested > capacity) {
        return shape_score(scoring, 100);
    }
    return shape_score(scoring, requested * 100 / capacity);
}

std::int64_t fit_score(const Nodes& nodes, const Pod& pod, const Scoring& scoring,
                       std::int64_t row) {
    std::int64_t node_score = 0;
    std::int64_t weight_sum = 0;
    for (std::int64_t i = 0; i < scoring.fit_resource_count; ++i) {
        const std::int64_t column = scoring.fit_columns[i];
        const Amounts amounts =
            amounts_after(nodes, row, column, pod.nonzero_requests[column], true);
        if (amounts.allocatable == 0) {
            continue;
        }
        const std::int64_t weight = scoring.fit_weights[i];
        std::int64_t score = 0;
        if (scoring.strategy == kLeastAllocated) {
            score = least_allocated(amounts.requested, amounts.allocatable);
        } else if (scoring.strategy == kMostAllocated) {
            score = most_allocated(amounts.requested, amounts.allocatable);
        } else {
            score = ratio_resource_score(scoring, amounts.requested, amounts.allocatable);
            // RequestedToCapacityRatio leaves resources scoring 0 out of the
            // weighted mean; the other two strategies keep them.
            if (score <= 0) {
                continue;
            }
        }
        node_score += score * weight;
        weight_sum += weight;
    }
    if (weight_sum == 0) {
        return 0;
    }
    if (scoring.strategy == kRequestedToCapacityRatio) {
        // Go's math.Round: halves round away from zero; both operands are >= 0.
        return (2 * node_score + weight_sum) / (2 * weight_sum);
    }
    return node_score / weight_sum;
}

bool requests_none_of(const Pod& pod, const Scoring& scoring) {
    for (std::int64_t i = 0; i < scoring.balanced_resource_count; ++i) {
        if (pod.requests[scoring.balanced_columns[i]] != 0) {
            return false;
        }
    }
    return true;
}

// 100 times one minus the standard deviation of the requested fractions.
std::int64_t balanced_score(const Nodes& nodes, const Pod& pod, const Scoring& scoring,
                            std::int64_t row, std::vector<double>& fractions) {
    fractions.clear();
    double total = 0.0;
    for (std::int64_t i = 0; i < scoring.balanced_resource_count; ++i) {
        const std::int64_t column = scoring.balanced_columns[i];
        const Amounts amounts = amounts_after(nodes, row, column, pod.requests[column], false);
        if (amounts.allocatable == 0) {
            continue;
        }
        double fraction =
            static_cast<double>(amounts.requested) / static_cast<double>(amounts.allocatable);
        if (fraction > 1.0) {
            fraction = 1.0;
        }
        total += fraction;
        fractions.push_back(fraction);
    }
    double deviation = 0.0;
    if (fractions.size() == 2) {
        deviation = std::fabs((fractions[0] - fractions[1]) / 2.0);
    } else if (fractions.size() > 2) {
        const double mean = total / static_cast<double>(fractions.size());
        double sum = 0.0;
        for (const double fraction : fractions) {
            sum = sum + (fraction - mean) * (fraction - mean);
        }
        deviation = std::sqrt(sum / static_cast<double>(fractions.size()));
    }
    return static_cast<std::int64_t>((1.0 - deviation) * static_cast<double>(kMaxNodeScore));
}

std::int64_t image_score(const Nodes& nodes, const Pod& pod, std::int64_t row) {
    if (pod.container_count == 0) {
        return 0;
    }
    std::int64_t sum = 0;
    for (std::int64_t i = 0; i < pod.image_count; ++i) {
        const std::int32_t image = pod.image_ids[i];
        for (std::int64_t j = nodes.image_offsets[row]; j < nodes.image_offsets[row + 1]; ++j) {
            if (nodes.image_ids[j] != image) {
                continue;
            }
            // Images on few nodes count less, so pods do not pile up on the
            // nodes that happen to have pulled an image already.
            const double spread = static_cast<double>(nodes.image_node_counts[image])
                                  / static_cast<double>(nodes.node_count);
            sum += static_cast<std::int64_t>(static_cast<double>(nodes.image_sizes[j]) * spread);
            break;
        }
    }
    const std::int64_t max_threshold = kImageMaxContainerThreshold * pod.container_count;
    if (sum < kImageMinThreshold) {
        sum = kImageMinThreshold;
    } else if (sum > max_threshold) {
        sum = max_threshold;
    }
    return kMaxNodeScore * (sum - kImageMinThreshold) / (max_threshold - kImageMinThreshold);
}

std::int64_t taint_count(const Nodes& nodes, const Pod& pod, std::int64_t row) {
    std::int64_t count = 0;
    for (std::int64_t i = nodes.taint_offsets[row]; i < nodes.taint_offsets[row + 1]; ++i) {
        if (nodes.taint_effects[i] != kPreferNoSchedule) {
            continue;
        }
        if (!any_toleration_tolerates(pod, nodes.taint_keys[i], nodes.taint_values[i],
                                      kPreferNoSchedule, true)) {
            ++count;
        }
    }
    return count;
}

std::int64_t preferred_weight(const Nodes& nodes, const Pod& pod, std::int64_t row) {
    std::int64_t weight = 0;
    for (std::int64_t term = 0; term < pod.term_count; ++term) {
        if (pod.term_kinds[term] == kPreferredTerm && term_matches(nodes, pod, row, term)) {
            weight += pod.term_weights[term];
        }
    }
    return weight;
}

}  // namespace

void score_nodes(const Nodes& nodes, const Pod& pod, const Scoring& scoring,
                 const std::int64_t* candidates, std::int64_t candidate_count,
                 std::int64_t* raw_scores) {
    const bool skip_balanced = requests_none_of(pod, scoring);
    std::vector<double> fractions;
    fractions.reserve(static_cast<std::size_t>(scoring.balanced_resource_count));
    const topology::Inclusion inclusion(nodes, pod);
    const std::vector<std::int64_t> spread =
        topology::spread_scores(nodes, pod, inclusion, candidates, candidate_count);
    const std::vector<std::int64_t> inter_pod = topology::affinity_scores(
        nodes, pod, scoring.hard_pod_affinity_weight, candidates, candidate_count);
    for (std::int64_t i = 0; i < candidate_count; ++i) {
        const std::int64_t row = candidates[i];
        std::int64_t* out = raw_scores + i * kScorePluginCount;
        out[kScoreTaintToleration] = taint_count(nodes, pod, row);
        out[kScoreNodeAffinity] = preferred_weight(nodes, pod, row);
        out[kScoreNodeResourcesFit] = fit_score(nodes, pod, scoring, row);
        out[kScoreBalancedAllocation] =
            skip_balanced ? 0 : balanced_score(nodes, pod, scoring, row, fractions);
        out[kScoreImageLocality] = image_score(nodes, pod, row);
        out[kScorePodTopologySpread] = spread[static_cast<std::size_t>(i)];
        out[kScoreInterPodAffinity] = inter_pod[static_cast<std::size_t>(i)];
    }
}

}  // namespace pykube::scheduler
