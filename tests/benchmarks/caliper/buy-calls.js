'use strict';

// The purchase of one call: BuyCalls(service, 1, maxPrice) submitted by a buyer with SToken (endorsed by a
// majority of organizations, ordered, committed). Latency runs from the proposal to the commit status.
const { WorkloadModuleBase } = require('@hyperledger/caliper-core');
const { BuyerPool } = require('./buyers');

class BuyCalls extends WorkloadModuleBase {
    async initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext) {
        await super.initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter,
            sutContext);
        this.pool = new BuyerPool(roundArguments.buyers, workerIndex, totalWorkers);
        this.calls = String(roundArguments.calls || 1);
        this.maxPrice = String(roundArguments.maxPrice);
    }

    async submitTransaction() {
        const buyer = this.pool.take();
        try {
            await this.sutAdapter.sendRequests({
                channel: this.roundArguments.channel,
                contractId: this.roundArguments.contract,
                contractFunction: 'BuyCalls',
                contractArguments: [this.roundArguments.service, this.calls, this.maxPrice],
                invokerIdentity: buyer.name,
                invokerMspId: buyer.mspId,
                readOnly: false,
            });
        } finally {
            this.pool.release(buyer);
        }
    }
}

function createWorkloadModule() {
    return new BuyCalls();
}

module.exports.createWorkloadModule = createWorkloadModule;
