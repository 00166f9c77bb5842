'use strict';

// The service query: QueryService(name), evaluated (no transaction) on a peer of the buyer's organization.
const { WorkloadModuleBase } = require('@hyperledger/caliper-core');
const { BuyerPool } = require('./buyers');

class QueryService extends WorkloadModuleBase {
    async initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext) {
        await super.initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter,
            sutContext);
        this.pool = new BuyerPool(roundArguments.buyers, workerIndex, totalWorkers);
    }

    async submitTransaction() {
        const buyer = this.pool.take();
        try {
            await this.sutAdapter.sendRequests({
                channel: this.roundArguments.channel,
                contractId: this.roundArguments.contract,
                contractFunction: 'QueryService',
                contractArguments: [this.roundArguments.service],
                invokerIdentity: buyer.name,
                invokerMspId: buyer.mspId,
                readOnly: true,
            });
        } finally {
            this.pool.release(buyer);
        }
    }
}

function createWorkloadModule() {
    return new QueryService();
}

module.exports.createWorkloadModule = createWorkloadModule;
