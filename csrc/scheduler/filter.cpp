// Filter plugins of kube-scheduler's default profile over the node table.
// kernels.h describes the arrays; _reference.py is the pure-Python twin.
#include <algorithm>

#include "common/debug.h"
#include "scheduler/kernels.h"
#include "scheduler/predicates.h"
#include "scheduler/topology.h"

namespace pykube::scheduler {
namespace {

// Returns the value id of `key` on node `row`, or -1 when the node has no
// such label. Interned ids start at 0, so -1 cannot collide with one.
std::int32_t label_value(const Nodes& nodes, std::int64_t row, std::int32_t key) {
    const std::int32_t* first = nodes.label_keys + nodes.label_offsets[row];
    const std::int32_t* last = nodes.label_keys + nodes.label_offsets[row + 1];
    const std::int32_t* found = std::lower_bound(first, last, key);
    if (found == last || *found != key) {
        return -1;
    }
    return nodes.label_values[found - nodes.label_keys];
}

bool requirement_has_value(const Pod& pod, std::int64_t r, std::int32_t value) {
    const std::int32_t* first = pod.requirement_values + pod.requirement_value_offsets[r];
    const std::int32_t* last = pod.requirement_values + pod.requirement_value_offsets[r + 1];
    return std::binary_search(first, last, value);
}

bool requirement_matches(const Nodes& nodes, const Pod& pod, std::int64_t row,
                         std::int64_t r) {
    const std::int8_t op = pod.requirement_ops[r];
    if (op == kNameIn || op == kNameNotIn) {
        const bool listed = requirement_has_value(pod, r, nodes.name_ids[row]);
        return op == kNameIn ? listed : !listed;
    }
    if (op == kNever) {
        return false;
    }
    const std::int32_t value = label_value(nodes, row, pod.requirement_keys[r]);
    switch (op) {
        case kIn:
            return value >= 0 && requirement_has_value(pod, r, value);
        case kNotIn:
            return value < 0 || !requirement_has_value(pod, r, value);
        case kExists:
            return value >= 0;
        case kDoesNotExist:
            return value < 0;
        case kGreaterThan:
        case kLessThan: {
            if (value < 0 || !nodes.string_is_number[value]) {
                return false;
            }
            const std::int64_t number = nodes.string_numbers[value];
            return op == kGreaterThan ? number > pod.requirement_numbers[r]
                                      : number < pod.requirement_numbers[r];
        }
        default:
            return false;
    }
}

}  // namespace

bool term_matches(const Nodes& nodes, const Pod& pod, std::int64_t row, std::int64_t term) {
    for (std::int64_t r = pod.term_offsets[term]; r < pod.term_offsets[term + 1]; ++r) {
        if (!requirement_matches(nodes, pod, row, r)) {
            return false;
        }
    }
    return true;
}

namespace {

bool tolerates(const Pod& pod, std::int64_t t, std::int32_t key, std::int32_t value,
               std::int8_t effect) {
    const std::int8_t toleration_effect = pod.toleration_effects[t];
    if (toleration_effect != kAnyEffect && toleration_effect != effect) {
        return false;
    }
    const std::int32_t toleration_key = pod.toleration_keys[t];
    if (toleration_key != -1 && toleration_key != key) {
        return false;
    }
    switch (pod.toleration_ops[t]) {
        case kTolerationEqual:
            return pod.toleration_values[t] == value;
        case kTolerationExists:
            return true;
        default:
            return false;
    }
}

}  // namespace

bool any_toleration_tolerates(const Pod& pod, std::int32_t key, std::int32_t value,
                              std::int8_t effect, bool prefer_no_schedule_only) {
    for (std::int64_t t = 0; t < pod.toleration_count; ++t) {
        // Scoring considers only tolerations whose effect is empty or
        // PreferNoSchedule, as kube-scheduler's TaintToleration does.
        if (prefer_no_schedule_only && pod.toleration_effects[t] != kAnyEffect
            && pod.toleration_effects[t] != kPreferNoSchedule) {
            continue;
        }
        if (tolerates(pod, t, key, value, effect)) {
            return true;
        }
    }
    return false;
}

std::int64_t first_untolerated_taint(const Nodes& nodes, const Pod& pod, std::int64_t row) {
    for (std::int64_t i = nodes.taint_offsets[row]; i < nodes.taint_offsets[row + 1]; ++i) {
        const std::int8_t effect = nodes.taint_effects[i];
        if (effect != kNoSchedule && effect != kNoExecute) {
            continue;
        }
        if (!any_toleration_tolerates(pod, nodes.taint_keys[i], nodes.taint_values[i], effect,
                                      false)) {
            return i;
        }
    }
    return -1;
}

bool matches_required_affinity(const Nodes& nodes, const Pod& pod, std::int64_t row) {
    bool has_required = false;
    bool any_required = false;
    for (std::int64_t term = 0; term < pod.term_count; ++term) {
        const std::int8_t kind = pod.term_kinds[term];
        if (kind == kSelectorTerm) {
            if (!term_matches(nodes, pod, row, term)) {
                return false;
            }
        } else if (kind == kRequiredTerm) {
            has_required = true;
            any_required = any_required || term_matches(nodes, pod, row, term);
        }
    }
    return !has_required || any_required;
}

namespace {

// A pod port conflicts with a used port of the same protocol and number
// when either address is 0.0.0.0 or both are the same address.
bool has_port_conflict(const Nodes& nodes, const Pod& pod, std::int64_t row) {
    for (std::int64_t p = 0; p < pod.port_count; ++p) {
        for (std::int64_t u = nodes.port_offsets[row]; u < nodes.port_offsets[row + 1]; ++u) {
            if (nodes.port_numbers[u] != pod.port_numbers[p]
                || nodes.port_protocols[u] != pod.port_protocols[p]) {
                continue;
            }
            if (pod.port_ips[p] == kWildcardIp || nodes.port_ips[u] == kWildcardIp
                || nodes.port_ips[u] == pod.port_ips[p]) {
                return true;
            }
        }
    }
    return false;
}

// Marks each resource that does not fit and returns the status. A request
// larger than the node's whole allocatable cannot fit after preemption
// either, which makes the node unresolvable.
std::int8_t check_resources(const Nodes& nodes, const Pod& pod, std::int64_t row,
                            std::uint8_t* insufficient) {
    const std::int64_t columns = nodes.resource_count;
    const std::int64_t* allocatable = nodes.allocatable + row * columns;
    const std::int64_t* requested = nodes.requested + row * columns;
    bool failed = false;
    bool unresolvable = false;

    if (requested[kPodsColumn] + 1 > allocatable[kPodsColumn]) {
        insufficient[kPodsColumn] = 1;
        failed = true;
        unresolvable = allocatable[kPodsColumn] < 1;
    }
    for (std::int64_t c = 0; c < columns; ++c) {
        const std::int64_t request = pod.requests[c];
        if (c == kPodsColumn || request <= 0) {
            continue;
        }
        if (request > allocatable[c] - requested[c]) {
            insufficient[c] = 1;
            failed = true;
            unresolvable = unresolvable || request > allocatable[c];
        }
    }
    if (!failed) {
        return kFits;
    }
    return unresolvable ? kUnschedulableAndUnresolvable : kUnschedulable;
}

}  // namespace

void filter_nodes(const Nodes& nodes, const Pod& pod, const FilterOutput& out) {
    filter_rows(nodes, pod, 0, nodes.node_count, out);
}

void filter_rows(const Nodes& nodes, const Pod& pod, std::int64_t begin, std::int64_t end,
                 const FilterOutput& out) {
    const topology::Inclusion inclusion(nodes, pod);
    const topology::SpreadFilter spread(nodes, pod, inclusion);
    const topology::AffinityFilter inter_pod(nodes, pod);
    for (std::int64_t row = begin; row < end; ++row) {
        std::int8_t status = kFits;
        std::int8_t plugin = kNoPlugin;
        std::int64_t detail = -1;
        std::uint8_t* insufficient = out.insufficient + row * nodes.resource_count;
        std::fill(insufficient, insufficient + nodes.resource_count, std::uint8_t{0});

        if (nodes.unschedulable[row] && !pod.tolerates_unschedulable) {
            status = kUnschedulableAndUnresolvable;
            plugin = kNodeUnschedulable;
        } else if (pod.node_name_id != -1 && pod.node_name_id != nodes.name_ids[row]) {
            status = kUnschedulableAndUnresolvable;
            plugin = kNodeName;
        } else if ((detail = first_untolerated_taint(nodes, pod, row)) >= 0) {
            status = kUnschedulableAndUnresolvable;
            plugin = kTaintToleration;
        } else if (!matches_required_affinity(nodes, pod, row)) {
            status = kUnschedulableAndUnresolvable;
            plugin = kNodeAffinity;
        } else if (has_port_conflict(nodes, pod, row)) {
            status = kUnschedulable;
            plugin = kNodePorts;
        } else if ((status = check_resources(nodes, pod, row, insufficient)) != kFits) {
            plugin = kNodeResourcesFit;
        } else if (pod.volume_conflict_count > 0 && pod.volume_conflicts[row] != kNoVolumeConflict) {
            status = kUnschedulableAndUnresolvable;
            plugin = pod.volume_conflicts[row] == kVolumeZoneConflict ? kVolumeZone : kVolumeBinding;
        } else if (spread.active() && (detail = spread.check(row)) >= 0) {
            status = detail == kSpreadMissingLabel ? kUnschedulableAndUnresolvable : kUnschedulable;
            plugin = kPodTopologySpread;
        } else if ((detail = inter_pod.check(row)) >= 0) {
            status = detail == kAffinityMismatch ? kUnschedulableAndUnresolvable : kUnschedulable;
            plugin = kInterPodAffinity;
        }
        out.status[row] = status;
        out.plugin[row] = plugin;
        out.detail[row] = detail;
    }
}

}  // namespace pykube::scheduler
