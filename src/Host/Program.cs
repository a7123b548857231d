using System.CommandLine;
using GpuViT.Host;

return Cli.Run(args);
