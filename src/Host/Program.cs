using GpuViT.Host;
using System.CommandLine;

return Cli.Run(args);
