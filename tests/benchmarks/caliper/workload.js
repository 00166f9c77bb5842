'use strict';

// What both workload modules share: the worker's buyers (a BuyerPool) and one request sent as the next of them.
const { WorkloadModuleBase } = require('@hyperledger/caliper-core');
const { BuyerPool } = require('./buyers');

class BuyerWorkload extends WorkloadModuleBase {
    async initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter, sutContext) {
        await super.initializeWorkloadModule(workerIndex, totalWorkers, roundIndex, roundArguments, sutAdapter,
            sutContext);
        this.pool = new BuyerPool(roundArguments.buyers, workerIndex, totalWorkers);
    }

    /** Calls the chaincode function as the next buyer, evaluated when readOnly, else submitted until committed. */
    async send(contractFunction, contractArguments, readOnly) {
        const buyer = this.pool.take();
        try {
            await this.sutAdapter.sendRequests({
                channel: this.roundArguments.channel,
                contractId: this.roundArguments.contract,
                contractFunction,
                contractArguments,
                invokerIdentity: buyer.name,
                invokerMspId: buyer.mspId,
                readOnly,
            });
        } finally {
            this.pool.release(buyer);
        }
    }
}

module.exports = { BuyerWorkload };
