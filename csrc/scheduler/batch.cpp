// Batch placement: k identical pods in one call, with exactly the rows that
// k one-pod cycles (filter, score, select, assume) would choose.
//
// Placing a pod changes three inputs of the next identical pod's cycle: the
// requests of its node, the host ports in use there, and, when the pod has
// spread constraints or inter-pod affinity terms, the pods that those terms
// count. The kernel keeps private copies of exactly that state and updates
// them after each placement; the caller's arrays are never written.
//
// Three modes give the same rows:
// - a pod with no pod terms changes only its own node's filter verdict and
//   raw scores, so the kernel filters and scores every node once and then
//   only the chosen row after each placement ("incremental"), and, when
//   every feasible node is scored, updates that row's weighted total alone;
// - a pod whose only pod terms are DoNotSchedule spread constraints also
//   changes the spread counts of its node's domains. Every node's spread
//   verdict reads them, but no raw score does. So the kernel keeps the
//   counts and rechecks only that verdict for every node ("spread");
// - a pod with other pod terms changes per-domain counts that every node's
//   verdict and scores read, so each placement reruns the whole cycle
//   ("full").
// kernels.h describes the arrays; _reference_batch.py is the pure-Python
// twin, which always reruns the whole cycle.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "scheduler/kernels.h"
#include "scheduler/topology.h"

namespace pykube::scheduler {
namespace {

// Private copy of the pod slots and their terms, growing by one slot per
// placed pod. Nodes views point into the vectors, so refresh() must run
// after every append.
class SlotCopy {
public:
    SlotCopy(const Nodes& nodes) {
        rows_.assign(nodes.pod_rows, nodes.pod_rows + nodes.pod_count);
        namespaces_.assign(nodes.pod_namespaces, nodes.pod_namespaces + nodes.pod_count);
        terminating_.assign(nodes.pod_terminating, nodes.pod_terminating + nodes.pod_count);
        label_offsets_.assign(nodes.pod_label_offsets, nodes.pod_label_offsets + nodes.pod_count + 1);
        const std::int64_t labels = label_offsets_.back();
        label_keys_.assign(nodes.pod_label_keys, nodes.pod_label_keys + labels);
        label_values_.assign(nodes.pod_label_values, nodes.pod_label_values + labels);
        const Terms& t = nodes.pod_terms;
        namespace_offsets_.push_back(0);
        selector_offsets_.push_back(0);
        value_offsets_.push_back(0);
        for (std::int64_t i = 0; i < t.count; ++i) {
            append_term(t, i, t.owners[i]);
        }
    }

    // Adds the placed pod as a new slot on `row`, with its own terms.
    void add(const Batch& batch, std::int64_t row) {
        const auto slot = static_cast<std::int64_t>(rows_.size());
        rows_.push_back(static_cast<std::int32_t>(row));
        namespaces_.push_back(batch.slot_namespace);
        terminating_.push_back(batch.slot_terminating);
        label_keys_.insert(label_keys_.end(), batch.slot_label_keys,
                           batch.slot_label_keys + batch.slot_label_count);
        label_values_.insert(label_values_.end(), batch.slot_label_values,
                             batch.slot_label_values + batch.slot_label_count);
        label_offsets_.push_back(static_cast<std::int64_t>(label_keys_.size()));
        for (std::int64_t i = 0; i < batch.slot_terms.count; ++i) {
            append_term(batch.slot_terms, i, slot);
        }
    }

    // Points the pod fields of `view` at the copy.
    void refresh(Nodes& view) const {
        view.pod_count = static_cast<std::int64_t>(rows_.size());
        view.pod_rows = rows_.data();
        view.pod_namespaces = namespaces_.data();
        view.pod_terminating = terminating_.data();
        view.pod_label_offsets = label_offsets_.data();
        view.pod_label_keys = label_keys_.data();
        view.pod_label_values = label_values_.data();
        Terms& t = view.pod_terms;
        t.count = static_cast<std::int64_t>(kinds_.size());
        t.kinds = kinds_.data();
        t.weights = weights_.data();
        t.min_domains = min_domains_.data();
        t.topology_keys = topology_keys_.data();
        t.flags = flags_.data();
        t.owners = owners_.data();
        t.namespace_offsets = namespace_offsets_.data();
        t.namespaces = term_namespaces_.data();
        t.selector_offsets = selector_offsets_.data();
        t.requirement_ops = ops_.data();
        t.requirement_keys = keys_.data();
        t.requirement_value_offsets = value_offsets_.data();
        t.requirement_values = values_.data();
    }

private:
    void append_term(const Terms& source, std::int64_t i, std::int64_t owner) {
        kinds_.push_back(source.kinds[i]);
        weights_.push_back(source.weights[i]);
        min_domains_.push_back(source.min_domains[i]);
        topology_keys_.push_back(source.topology_keys[i]);
        flags_.push_back(source.flags[i]);
        owners_.push_back(owner);
        term_namespaces_.insert(term_namespaces_.end(), source.namespaces + source.namespace_offsets[i],
                                source.namespaces + source.namespace_offsets[i + 1]);
        namespace_offsets_.push_back(static_cast<std::int64_t>(term_namespaces_.size()));
        for (std::int64_t q = source.selector_offsets[i]; q < source.selector_offsets[i + 1]; ++q) {
            ops_.push_back(source.requirement_ops[q]);
            keys_.push_back(source.requirement_keys[q]);
            values_.insert(values_.end(), source.requirement_values + source.requirement_value_offsets[q],
                           source.requirement_values + source.requirement_value_offsets[q + 1]);
            value_offsets_.push_back(static_cast<std::int64_t>(values_.size()));
        }
        selector_offsets_.push_back(static_cast<std::int64_t>(ops_.size()));
    }

    std::vector<std::int32_t> rows_;
    std::vector<std::int32_t> namespaces_;
    std::vector<std::uint8_t> terminating_;
    std::vector<std::int64_t> label_offsets_;
    std::vector<std::int32_t> label_keys_;
    std::vector<std::int32_t> label_values_;
    std::vector<std::int8_t> kinds_;
    std::vector<std::int64_t> weights_;
    std::vector<std::int64_t> min_domains_;
    std::vector<std::int32_t> topology_keys_;
    std::vector<std::uint8_t> flags_;
    std::vector<std::int64_t> owners_;
    std::vector<std::int64_t> namespace_offsets_;
    std::vector<std::int32_t> term_namespaces_;
    std::vector<std::int64_t> selector_offsets_;
    std::vector<std::int8_t> ops_;
    std::vector<std::int32_t> keys_;
    std::vector<std::int64_t> value_offsets_;
    std::vector<std::int32_t> values_;
};

// The node state that placing a pod changes, copied from the caller's table.
class AssumedNodes {
public:
    AssumedNodes(const Nodes& nodes, const Pod& pod, bool track_slots)
        : view(nodes),
          pod_(pod),
          requested_(nodes.requested, nodes.requested + nodes.node_count * nodes.resource_count),
          nonzero_(nodes.nonzero_requested, nodes.nonzero_requested + nodes.node_count * 2),
          blocked_(static_cast<std::size_t>(nodes.node_count), 0) {
        view.requested = requested_.data();
        view.nonzero_requested = nonzero_.data();
        if (track_slots) {
            slots_.emplace_back(nodes);
            slots_.back().refresh(view);
        }
    }

    // Accounts one pod on `row`, as NodeTable.assume_pod does.
    void assume(const Batch& batch, std::int64_t row) {
        std::int64_t* requested = requested_.data() + row * view.resource_count;
        // Pod::requests has 1 in the pods column: the pod count grows by one.
        for (std::int64_t column = 0; column < view.resource_count; ++column) {
            requested[column] += pod_.requests[column];
        }
        nonzero_[static_cast<std::size_t>(row * 2)] += pod_.nonzero_requests[kCpuColumn];
        nonzero_[static_cast<std::size_t>(row * 2 + 1)] += pod_.nonzero_requests[kMemoryColumn];
        // An identical pod always conflicts with the host ports of its twin.
        if (pod_.port_count > 0) {
            blocked_[static_cast<std::size_t>(row)] = 1;
        }
        if (!slots_.empty()) {
            slots_.back().add(batch, row);
            slots_.back().refresh(view);
        }
    }

    // NodePorts runs before NodeResourcesFit and the later filters, so a
    // row whose ports a placed twin took reports NodePorts in their stead.
    void apply_ports(std::int64_t row, const FilterOutput& out) const {
        if (!blocked_[static_cast<std::size_t>(row)]) {
            return;
        }
        if (out.plugin[row] == kNoPlugin || out.plugin[row] > kNodePorts) {
            out.status[row] = kUnschedulable;
            out.plugin[row] = kNodePorts;
            out.detail[row] = -1;
        }
    }

    Nodes view;

private:
    const Pod& pod_;
    std::vector<std::int64_t> requested_;
    std::vector<std::int64_t> nonzero_;
    std::vector<std::uint8_t> blocked_;
    std::vector<SlotCopy> slots_;  // empty, or one copy when the pod has terms
};

// Filter output buffers for every node.
struct FilterBuffers {
    explicit FilterBuffers(const Nodes& nodes)
        : status(static_cast<std::size_t>(nodes.node_count)),
          plugin(static_cast<std::size_t>(nodes.node_count)),
          detail(static_cast<std::size_t>(nodes.node_count)),
          insufficient(static_cast<std::size_t>(nodes.node_count * nodes.resource_count)),
          out{status.data(), plugin.data(), detail.data(), insufficient.data()} {}

    std::vector<std::int8_t> status;
    std::vector<std::int8_t> plugin;
    std::vector<std::int64_t> detail;
    std::vector<std::uint8_t> insufficient;
    FilterOutput out;
};

// Runs the batch with a whole cycle per pod.
void place_full(AssumedNodes& state, const Pod& pod, const Scoring& scoring,
                const std::int64_t* weights, const std::int8_t* modes, const Batch& batch,
                BatchOutput& out) {
    const Nodes& nodes = state.view;
    FilterBuffers filtered(nodes);
    std::vector<std::int64_t> candidates(static_cast<std::size_t>(nodes.node_count));
    std::vector<std::int64_t> scores;
    std::vector<std::int64_t> totals;
    for (std::int64_t i = 0; i < batch.count; ++i) {
        filter_rows(nodes, pod, 0, nodes.node_count, filtered.out);
        for (std::int64_t row = 0; row < nodes.node_count; ++row) {
            state.apply_ports(row, filtered.out);
        }
        std::int64_t count = 0;
        std::int64_t processed = 0;
        sample_feasible(filtered.status.data(), nodes.node_count, out.next_start_row, batch.nodes_to_find,
                        candidates.data(), &count, &processed);
        out.next_start_row = nodes.node_count > 0 ? (out.next_start_row + processed) % nodes.node_count : 0;
        if (count == 0) {
            return;
        }
        scores.assign(static_cast<std::size_t>(count * kScorePluginCount), 0);
        totals.assign(static_cast<std::size_t>(count), 0);
        score_nodes(nodes, pod, scoring, candidates.data(), count, scores.data());
        const std::int64_t selected =
            select_node(scores.data(), count, weights, modes, totals.data(), &out.rng_state);
        const std::int64_t row = candidates[static_cast<std::size_t>(selected)];
        out.rows[i] = row;
        out.placed = i + 1;
        state.assume(batch, row);
    }
}

// Runs the batch for a pod whose pod terms are all DoNotSchedule spread
// constraints when every feasible node is scored. Such constraints take
// part in no raw score (only ScheduleAnyway ones score), so for every
// plugin but PodTopologySpread the pod is one without pod terms. Those
// plugins' verdicts and raw scores are computed once and then for the
// chosen row only, as in place_incremental_all. The spread counts grow by the placed pod, and each
// placement rechecks every row against them, which is a few lookups a row.
void place_spread(AssumedNodes& state, const Pod& pod, const Scoring& scoring,
                  const std::int64_t* weights, const std::int8_t* modes, const Batch& batch,
                  BatchOutput& out) {
    const Nodes& nodes = state.view;
    const std::int64_t n = nodes.node_count;
    constexpr std::int64_t k = kScorePluginCount;
    Pod others = pod;
    others.terms.count = 0;
    const topology::Inclusion inclusion(nodes, pod);
    topology::SpreadFilter spread(nodes, pod, inclusion);
    FilterBuffers filtered(nodes);
    filter_rows(nodes, others, 0, n, filtered.out);
    std::vector<std::int64_t> candidates;
    candidates.reserve(static_cast<std::size_t>(n));
    for (std::int64_t row = 0; row < n; ++row) {
        if (filtered.status[static_cast<std::size_t>(row)] == kFits) {
            candidates.push_back(row);
        }
    }
    const auto candidate_count = [&] { return static_cast<std::int64_t>(candidates.size()); };
    std::vector<std::int64_t> raw(static_cast<std::size_t>(n * k), 0);
    std::vector<std::int64_t> scores(static_cast<std::size_t>(candidate_count() * k));
    score_nodes(nodes, others, scoring, candidates.data(), candidate_count(), scores.data());
    for (std::int64_t i = 0; i < candidate_count(); ++i) {
        std::copy_n(scores.data() + i * k, k, raw.data() + candidates[static_cast<std::size_t>(i)] * k);
    }
    std::vector<std::int64_t> totals;
    for (std::int64_t i = 0; i < batch.count; ++i) {
        candidates.clear();
        for (std::int64_t row = 0; row < n; ++row) {
            if (filtered.status[static_cast<std::size_t>(row)] == kFits && spread.check(row) < 0) {
                candidates.push_back(row);
            }
        }
        if (candidates.empty()) {
            return;
        }
        scores.resize(static_cast<std::size_t>(candidate_count() * k));
        totals.assign(static_cast<std::size_t>(candidate_count()), 0);
        for (std::int64_t c = 0; c < candidate_count(); ++c) {
            std::copy_n(raw.data() + candidates[static_cast<std::size_t>(c)] * k, k, scores.data() + c * k);
        }
        const std::int64_t selected =
            select_node(scores.data(), candidate_count(), weights, modes, totals.data(), &out.rng_state);
        const std::int64_t row = candidates[static_cast<std::size_t>(selected)];
        out.rows[i] = row;
        out.placed = i + 1;
        state.assume(batch, row);
        spread.add_pod(row, nodes.pod_count - 1);
        filter_rows(nodes, others, row, row + 1, filtered.out);
        state.apply_ports(row, filtered.out);
        if (filtered.status[static_cast<std::size_t>(row)] == kFits) {
            score_nodes(nodes, others, scoring, &row, 1, raw.data() + row * k);
        }
    }
}

// True when every pod term of `pod` is a DoNotSchedule spread constraint.
bool only_hard_spread(const Pod& pod) {
    for (std::int64_t t = 0; t < pod.terms.count; ++t) {
        if (pod.terms.kinds[t] != kHardSpread) {
            return false;
        }
    }
    return pod.terms.count > 0;
}

// Runs the batch for a pod without pod terms when percentageOfNodesToScore
// samples the nodes. A placement changes only the chosen row's verdict and
// raw scores, because no raw score of such a pod depends on the candidate
// set. So only that row is filtered and scored again.
void place_incremental(AssumedNodes& state, const Pod& pod, const Scoring& scoring,
                       const std::int64_t* weights, const std::int8_t* modes, const Batch& batch,
                       BatchOutput& out) {
    const Nodes& nodes = state.view;
    const std::int64_t n = nodes.node_count;
    FilterBuffers filtered(nodes);
    filter_rows(nodes, pod, 0, n, filtered.out);
    std::vector<std::int64_t> candidates(static_cast<std::size_t>(n));
    std::int64_t feasible_count = 0;
    for (std::int64_t row = 0; row < n; ++row) {
        if (filtered.status[static_cast<std::size_t>(row)] == kFits) {
            candidates[static_cast<std::size_t>(feasible_count++)] = row;
        }
    }
    // Raw scores by row, filled for the feasible rows.
    std::vector<std::int64_t> raw(static_cast<std::size_t>(n * kScorePluginCount), 0);
    {
        std::vector<std::int64_t> packed(static_cast<std::size_t>(feasible_count * kScorePluginCount));
        score_nodes(nodes, pod, scoring, candidates.data(), feasible_count, packed.data());
        for (std::int64_t i = 0; i < feasible_count; ++i) {
            std::copy_n(packed.data() + i * kScorePluginCount, kScorePluginCount,
                        raw.data() + candidates[static_cast<std::size_t>(i)] * kScorePluginCount);
        }
    }
    std::vector<std::int64_t> scores;
    std::vector<std::int64_t> totals;
    for (std::int64_t i = 0; i < batch.count; ++i) {
        std::int64_t count = 0;
        std::int64_t processed = 0;
        sample_feasible(filtered.status.data(), n, out.next_start_row, batch.nodes_to_find, candidates.data(),
                        &count, &processed);
        out.next_start_row = n > 0 ? (out.next_start_row + processed) % n : 0;
        if (count == 0) {
            return;
        }
        scores.resize(static_cast<std::size_t>(count * kScorePluginCount));
        totals.resize(static_cast<std::size_t>(count));
        for (std::int64_t c = 0; c < count; ++c) {
            std::copy_n(raw.data() + candidates[static_cast<std::size_t>(c)] * kScorePluginCount,
                        kScorePluginCount, scores.data() + c * kScorePluginCount);
        }
        const std::int64_t selected =
            select_node(scores.data(), count, weights, modes, totals.data(), &out.rng_state);
        const std::int64_t row = candidates[static_cast<std::size_t>(selected)];
        out.rows[i] = row;
        out.placed = i + 1;
        state.assume(batch, row);
        filter_rows(nodes, pod, row, row + 1, filtered.out);
        state.apply_ports(row, filtered.out);
        if (filtered.status[static_cast<std::size_t>(row)] == kFits) {
            score_nodes(nodes, pod, scoring, &row, 1, raw.data() + row * kScorePluginCount);
        }
    }
}

// Runs the batch for a pod without pod terms when every feasible node is
// scored. A placement changes only the chosen row's NodeResourcesFit and
// BalancedAllocation scores, which are not normalised, so the weighted
// total of that row moves by the change in those columns. The totals are
// rebuilt from normalised scores only when the candidate set changes (a
// node stops fitting) or a normalised column of the chosen row changes.
void place_incremental_all(AssumedNodes& state, const Pod& pod, const Scoring& scoring,
                           const std::int64_t* weights, const std::int8_t* modes, const Batch& batch,
                           BatchOutput& out) {
    const Nodes& nodes = state.view;
    const std::int64_t n = nodes.node_count;
    constexpr std::int64_t k = kScorePluginCount;
    FilterBuffers filtered(nodes);
    filter_rows(nodes, pod, 0, n, filtered.out);
    std::vector<std::int64_t> candidates;
    for (std::int64_t row = 0; row < n; ++row) {
        if (filtered.status[static_cast<std::size_t>(row)] == kFits) {
            candidates.push_back(row);
        }
    }
    const auto candidate_count = [&] { return static_cast<std::int64_t>(candidates.size()); };
    std::vector<std::int64_t> raw(static_cast<std::size_t>(n * k), 0);
    std::vector<std::int64_t> buffer(static_cast<std::size_t>(candidate_count() * k));
    score_nodes(nodes, pod, scoring, candidates.data(), candidate_count(), buffer.data());
    for (std::int64_t i = 0; i < candidate_count(); ++i) {
        std::copy_n(buffer.data() + i * k, k, raw.data() + candidates[static_cast<std::size_t>(i)] * k);
    }

    std::vector<std::int64_t> totals;
    bool stale = true;
    for (std::int64_t i = 0; i < batch.count; ++i) {
        if (candidates.empty()) {
            return;
        }
        if (stale) {
            buffer.resize(static_cast<std::size_t>(candidate_count() * k));
            for (std::int64_t c = 0; c < candidate_count(); ++c) {
                std::copy_n(raw.data() + candidates[static_cast<std::size_t>(c)] * k, k, buffer.data() + c * k);
            }
            normalize_scores(buffer.data(), candidate_count(), modes);
            totals.assign(static_cast<std::size_t>(candidate_count()), 0);
            for (std::int64_t c = 0; c < candidate_count(); ++c) {
                for (std::int64_t column = 0; column < k; ++column) {
                    totals[static_cast<std::size_t>(c)] += buffer[static_cast<std::size_t>(c * k + column)] * weights[column];
                }
            }
            stale = false;
        }
        const std::int64_t pick = pick_best(totals.data(), candidate_count(), &out.rng_state);
        const std::int64_t row = candidates[static_cast<std::size_t>(pick)];
        out.rows[i] = row;
        out.placed = i + 1;
        state.assume(batch, row);

        filter_rows(nodes, pod, row, row + 1, filtered.out);
        state.apply_ports(row, filtered.out);
        if (filtered.status[static_cast<std::size_t>(row)] != kFits) {
            candidates.erase(candidates.begin() + pick);
            stale = true;
            continue;
        }
        std::int64_t before[kScorePluginCount];
        std::int64_t* scores = raw.data() + row * k;
        std::copy_n(scores, k, before);
        score_nodes(nodes, pod, scoring, &row, 1, scores);
        std::int64_t delta = 0;
        for (std::int64_t column = 0; column < k; ++column) {
            if (scores[column] == before[column]) {
                continue;
            }
            if (modes[column] != kNoNormalization) {
                stale = true;
            }
            delta += (scores[column] - before[column]) * weights[column];
        }
        if (!stale) {
            totals[static_cast<std::size_t>(pick)] += delta;
        }
    }
}

}  // namespace

void sample_feasible(const std::int8_t* status, std::int64_t node_count, std::int64_t start_row,
                     std::int64_t nodes_to_find, std::int64_t* rows, std::int64_t* row_count,
                     std::int64_t* processed) {
    *row_count = 0;
    *processed = node_count;
    for (std::int64_t i = 0; i < node_count; ++i) {
        const std::int64_t row = (start_row + i) % node_count;
        if (status[row] != kFits) {
            continue;
        }
        rows[(*row_count)++] = row;
        if (*row_count >= nodes_to_find) {
            *processed = i + 1;
            return;
        }
    }
}

void schedule_batch(const Nodes& nodes, const Pod& pod, const Scoring& scoring,
                    const std::int64_t* weights, const std::int8_t* modes, const Batch& batch,
                    BatchOutput& out) {
    std::fill(out.rows, out.rows + batch.count, std::int64_t{-1});
    out.placed = 0;
    out.next_start_row = batch.start_row;
    const bool has_terms = pod.terms.count > 0;
    AssumedNodes state(nodes, pod, has_terms);
    const bool score_all = batch.start_row == 0 && batch.nodes_to_find >= nodes.node_count;
    if (has_terms && score_all && only_hard_spread(pod)) {
        place_spread(state, pod, scoring, weights, modes, batch, out);
    } else if (has_terms) {
        place_full(state, pod, scoring, weights, modes, batch, out);
    } else if (score_all) {
        place_incremental_all(state, pod, scoring, weights, modes, batch, out);
    } else {
        place_incremental(state, pod, scoring, weights, modes, batch, out);
    }
}

}  // namespace pykube::scheduler
