#!/usr/bin/python3
"""Runs a .tflite model with Arm NN's TfLiteParser on the CpuRef backend (an independent reader).

usage: armnn_run.py MODEL INPUT OUTPUT
  INPUT: raw little-endian rows of the model's input type (float32 or int8), whole rows
  OUTPUT: raw outputs, one row per input row, in the model's output type
Prints the input/output data types and shapes on stdout. Exit 3 when pyarmnn is unusable.
"""
import sys

try:
    import numpy as np
    import pyarmnn as ann
except Exception as e:  # pragma: no cover - reported to the test as a skip reason
    print("pyarmnn unusable: %s" % e)
    sys.exit(3)


def main():
    model, inp, outp = sys.argv[1:4]
    parser = ann.ITfLiteParser()
    network = parser.CreateNetworkFromBinaryFile(model)
    in_name = parser.GetSubgraphInputTensorNames(0)[0]
    out_name = parser.GetSubgraphOutputTensorNames(0)[0]
    in_info = parser.GetNetworkInputBindingInfo(0, in_name)
    out_info = parser.GetNetworkOutputBindingInfo(0, out_name)
    runtime = ann.IRuntime(ann.CreationOptions())
    opt, _ = ann.Optimize(network, [ann.BackendId("CpuRef")], runtime.GetDeviceSpec(),
                          ann.OptimizerOptions())
    net_id, _ = runtime.LoadNetwork(opt)
    in_tensor_info = in_info[1]
    dtype = np.float32 if in_tensor_info.GetDataType() == ann.DataType_Float32 else np.int8
    width = in_tensor_info.GetNumElements()
    data = np.fromfile(inp, dtype=dtype).reshape(-1, width)
    outs = []
    for row in data:
        in_tensors = ann.make_input_tensors([in_info], [row.reshape(in_tensor_info.GetShape()[0], -1) if False else row])
        out_tensors = ann.make_output_tensors([out_info])
        runtime.EnqueueWorkload(net_id, in_tensors, out_tensors)
        outs.append(ann.workload_tensors_to_ndarray(out_tensors)[0].reshape(-1))
    result = np.concatenate(outs) if outs else np.zeros(0)
    result.tofile(outp)
    print("input %s %d, output %s, rows %d" % (dtype.__name__, width, result.dtype, len(data)))


if __name__ == "__main__":
    main()
