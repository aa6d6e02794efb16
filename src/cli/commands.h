/* commands.h — the slm subcommands, one file each. Each returns the process exit code. */
#ifndef SLM_CLI_COMMANDS_H
#define SLM_CLI_COMMANDS_H

int cmd_generate(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_keywords(int argc, char **argv);
/* `slm eval --task keywords` (cmd_eval.c dispatches here; also `slm keywords --eval`). */
int cmd_eval_keywords(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
